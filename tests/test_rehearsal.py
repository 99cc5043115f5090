# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The CI subset of the dress rehearsal (docs/rehearsal.md): one shipped
config per toolkit, at its real input size, trained through
tools/dist_train.sh on 2 processes, stopped after its first checkpoint,
resumed, and tested by tools/dist_test.sh with its own evaluator; the
detector and the segmentor start from the classifier's checkpoint."""
import json
import math

import pytest

from mmsmlp import rehearsal
from mmsmlp.rehearsal import CI, PRETRAINED, RehearsalError, record_result, run

# The metric each toolkit's shipped evaluator writes.
METRICS = {
    'imagenet': ('accuracy/top1', 'accuracy/top5'),
    'mask-rcnn-1x': ('coco/bbox_mAP', 'coco/segm_mAP'),
    'upernet-ade20k': ('mIoU', ),
}


@pytest.fixture(scope='module')
def ci_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp('rehearsal')
    return root, {row['name']: row for row in run(CI, str(root))}


@pytest.mark.slow
def test_ci_subset_trains_resumes_and_tests_each_toolkit(ci_rows):
    root, rows = ci_rows
    assert sorted(rows) == sorted(METRICS)
    for name, row in rows.items():
        assert row['world_size'] == 2
        for metric in METRICS[name]:
            assert math.isfinite(row['metrics'][metric]), (name, metric)
    # The table on disk holds the same rows.
    assert {
        r['name']
        for r in json.loads((root / 'results.json').read_text())
    } == set(rows)


@pytest.mark.slow
def test_ci_fine_tuning_starts_from_the_imagenet_checkpoint(ci_rows):
    root, rows = ci_rows
    # The configs' init_cfg loaded the backbone from the shared checkpoint.
    assert (root / PRETRAINED).is_file()
    for name in ('mask-rcnn-1x', 'upernet-ade20k'):
        log = (root / 'logs' / f'{name}.log').read_text()
        assert PRETRAINED in log, name


def test_fine_tuning_rehearsals_need_the_imagenet_checkpoint(tmp_path):
    with pytest.raises(RehearsalError, match='run it first'):
        run(CI[1:], str(tmp_path))


def test_results_of_separate_runs_add_up_to_one_table(tmp_path):
    results = tmp_path / 'results.json'
    record_result(results, dict(name='imagenet', seconds=1))
    record_result(results, dict(name='mask-rcnn-1x', seconds=2))
    record_result(results, dict(name='imagenet', seconds=3))
    rows = json.loads(results.read_text())
    assert [(r['name'], r['seconds']) for r in rows] == [('mask-rcnn-1x', 2),
                                                         ('imagenet', 3)]


def test_results_table_shows_each_run_with_its_headline_metrics():
    resumed = dict(
        name='mask-rcnn-1x',
        config='mask_rcnn/x.py',
        world_size=4,
        samples_per_gpu=1,
        iterations=2,
        seconds=dict(train=10.4, resume=20.0, test=5.0),
        peak_rss_mib=5000,
        metrics={
            'coco/bbox_mAP': 0.0,
            'coco/bbox_mAP_50': 0.0,
            'coco/segm_mAP': 0.25,
            'time': 3.0
        })
    step = dict(
        resumed,
        name='mask-rcnn-1x-base',
        world_size=1,
        iterations=1,
        seconds=dict(train=30.0),
        metrics={})
    table = rehearsal.results_table([resumed, step]).splitlines()
    assert table[2] == ('| mask-rcnn-1x | `mask_rcnn/x.py` | 4 x 1 | 1 + 1 | '
                        '10 / 20 / 5 | 5000 | coco/bbox_mAP 0, '
                        'coco/segm_mAP 0.25 |')
    assert table[3].startswith('| mask-rcnn-1x-base | `mask_rcnn/x.py` | '
                               '1 x 1 | 1 | 30 | 5000 | trained')


def test_only_the_tiny_imagenet_run_writes_the_shared_checkpoint():
    """An S or B ImageNet step once replaced the T checkpoint that the
    detection and segmentation rehearsals start from."""
    writers = [r.name for r in rehearsal.ALL if rehearsal.writes_pretrained(r)]
    assert writers == ['imagenet']
    assert rehearsal.writes_pretrained(CI[0])


def test_every_change_to_a_shipped_config_has_a_reason():
    for each in rehearsal.FULL + CI:
        for option, reason in each.train_options():
            assert '=' in option and reason, (each.name, option)
