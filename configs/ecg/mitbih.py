"""MIT-BIH Arrhythmia, inter-patient (de Chazal DS1 -> DS2, AAMI classes): the CPU config.

python launch.py --config=configs/ecg/mitbih.py --workdir=W --config.data.manual_dir=DIR
`configs/ecg/mitbih.py:gpu` is the GPU-scale variant (wider, deeper, longer); any other spec
key overrides as in every config (`:depth=8,seed=1`). What these reach, measured over seeds,
and the commands that measured it: docs/data.md ("Real-ECG configs").
"""

from ecgdepth import spec

# The CPU config: one seed trains in at most 5 minutes on 2 cores.
CPU = {
    'data': 'mitbih',
    'depth': 6,
    'width': 32,
    'dropout': 0.2,
    'data.sample_rate': 180.0,
    'data.record_norm': 'median_mad',
    'data.bandpass': '0.5+40',
    # RR context as ratios only: absolute intervals (s) carry each patient's heart rate, which
    # does not transfer between patients (benchmarks/rr_transfer.py).
    'data.features': 'rr_prev_local+rr_next_local+rr_prev_next+rr_local_long+rr_prev_long',
    # Each beat beside itself minus its record's median beat (morphology against the patient's
    # own), and the RR ratios through a hidden layer (combinations, not a sum of evidence).
    'data.beat_reference': 'record_median',
    'feature_hidden': 32,
    'train.batch_size': 128,
    'train.num_steps': 1500,
    'train.eval_every': 250,
    'train.select_metric': 'aami_macro_f1',
}
# The same model family at GPU scale.
GPU = {**CPU, 'depth': 12, 'width': 128, 'train.num_steps': 20000, 'train.eval_every': 1000}
# Inverse training frequency of N, S, V, F (as loss.class_weights='balanced' gives on DS1), and
# no weight on the six Q beats of DS1: the AAMI four-class score leaves Q out, and a weight of
# ~1,400 on six beats makes the loss chase them.
CLASS_WEIGHTS = '0.22,12.1,2.8,21.8,0'


def get_config(arg=None):
    config, given = spec.scaled_config('dilated_cnn', arg, CPU, GPU)
    if 'loss.class_weights' not in given:
        config.loss.class_weights = CLASS_WEIGHTS
    return config
