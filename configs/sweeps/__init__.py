"""Sweep config files: each defines get_config(arg) (the base) and get_sweep(arg) (the trials).

python launch.py --config=configs/sweeps/depth.py:runlocal --workdir=/tmp/depth --sweep
See ecgdepth/sweep.py for the format and ecgdepth/trial.py for how trials run.
"""
