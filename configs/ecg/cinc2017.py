"""PhysioNet/CinC Challenge 2017 (AF from a single lead), scored per record by the challenge
F1: the CPU config.

python launch.py --config=configs/ecg/cinc2017.py --workdir=W --config.data.manual_dir=DIR
`configs/ecg/cinc2017.py:gpu` is the GPU-scale variant; any other spec key overrides as in
every config. Windows of 30 s cover each record; a record's windows' logits are averaged
(docs/data.md). What these reach, and the commands that measured it: docs/data.md
("Real-ECG configs").
"""

from ecgdepth import spec

# The CPU config: a strided residual 1-D CNN (arch=resnet1d) at 100 Hz behind a stride-4
# conv front end; one seed trains in at most 10 minutes on 2 cores.
CPU = {
    'data': 'cinc2017',
    'arch': 'resnet1d',
    'front_end_layers': 1,
    'front_end_stride': 4,
    'front_end_kernel': 16,
    'depth': 8,
    'width': 32,
    'kernel_size': 8,
    'dropout': 0.2,
    'data.sample_rate': 100.0,
    'loss.class_weights': 'balanced',
    'optim.learning_rate': 3e-3,
    'train.batch_size': 32,
    'train.num_steps': 2500,
    'train.eval_every': 250,
    'train.eval_batch_size': 64,
    'train.select_metric': 'challenge_f1',
}
# Hannun et al.'s scale: 32 conv layers, kernel 16, 200 Hz, 7 halvings of the time axis.
GPU = {
    **CPU,
    'depth': 32,
    'downsample_every': 4,
    'width': 128,
    'kernel_size': 16,
    'data.sample_rate': 200.0,
    'train.num_steps': 30000,
    'train.eval_every': 1000,
}


def get_config(arg=None):
    return spec.scaled_config('dilated_cnn', arg, CPU, GPU)[0]
