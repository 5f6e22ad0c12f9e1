"""The real-ECG table in docs/data.md is what benchmarks/real_ecg.py renders from the result
files in the repository: no figure in it is typed by hand."""

import json

from conftest import load_script

real_ecg = load_script('benchmarks/real_ecg.py')


def test_the_docs_table_is_generated_from_the_result_files():
    with open(real_ecg.DOC) as f:
        text = f.read()
    start = text.index(real_ecg.BEGIN)
    end = text.index(real_ecg.END) + len(real_ecg.END)
    assert text[start:end] == real_ecg.docs_block(), 'run: python benchmarks/real_ecg.py docs'


def test_render_reports_mean_and_std_over_seeds_and_the_command(tmp_path):
    seed = {
        'dataset': 'cinc2017',
        'variant': 'CNN',
        'params': 1234,
        'wall_time_s': 100.0,
        'best_step': 100,
        'command': 'python launch.py --config=configs/ecg/cinc2017.py',
    }
    seeds = [
        {**seed, 'test': {'challenge_f1': 0.8, 'accuracy': 0.9}},
        {**seed, 'wall_time_s': 120.0, 'best_step': 300, 'test': {'challenge_f1': 0.7}},
    ]
    result = {
        'config': 'configs/ecg/cinc2017.py',
        'machine': 'x',
        'date': 'd',
        'seeds': seeds,
        'num_steps': 300,
    }
    text = real_ecg.render([json.loads(json.dumps(result))])
    # Undefined figures are a dash; one seed's value stands alone.
    assert '| 0.750 ± 0.071 | – | – | – | 0.900 | 100, 300 of 300 | 110 (median; max 120) |' in text
    assert 'python launch.py --config=configs/ecg/cinc2017.py' in text
