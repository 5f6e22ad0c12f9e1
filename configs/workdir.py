"""The config a run recorded in its workdir: `--config=configs/workdir.py:W` (W's config.json).

`launch.py --workdir=W --evaluate=NAME` uses it when --config is not given, so that
`--config.data.FIELD=VALUE` overrides apply to the run's own config.
"""

from ecgdepth import spec


def get_config(workdir):
    return spec.from_workdir(workdir)
