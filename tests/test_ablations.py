# Copyright (c) mmsmlp contributors. Licensed under the Apache License 2.0.
"""The configs of the paper's ablations (configs/smlpnet/ablations) build the
models the paper describes, at its parameter counts, and train at 224."""
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmsmlp  # noqa: F401  (registers SMLPNet)
from mmsmlp.analysis.ablations import PAPER_ABLATIONS, ablation_table
from mmsmlp.models.backbones.smlpnet_layers import SparseMLP, TokenMLP

REPO = Path(__file__).parents[1]
CONFIG_DIR = REPO / 'configs' / 'smlpnet'
ABLATION_DIR = CONFIG_DIR / 'ablations'

# (embed_dims, depths, alpha) of the backbones.
TINY_A2 = (80, (2, 8, 14, 2), 2)
SMALL = (96, (2, 10, 24, 2), 3)
BASE = (112, (2, 10, 24, 2), 3)
FULL = ('dwconv_smlp', ) * 4
# (fusion, layout, identity) of the sMLP modules; None: the model has none.
PAPER_SMLP = ('concat', 'parallel', True)

# What each ablation is, as described in the paper: arch, token mixing of
# each stage, sMLP module design.
EXPECTED_MODELS = {
    'smlpnet-tiny-a2_8xb128_in1k.py': (TINY_A2, FULL, PAPER_SMLP),
    'smlpnet-tiny-a2-global-only_8xb128_in1k.py': (TINY_A2, ('smlp', ) * 4,
                                                   PAPER_SMLP),
    'smlpnet-tiny-a2-local-only_8xb128_in1k.py': (TINY_A2, ('dwconv', ) * 4,
                                                  None),
    'smlpnet-tiny-a2-multi-stage-mlp_8xb128_in1k.py':
    (TINY_A2, ('dwconv', 'mlp', 'mlp', 'mlp'), None),
    'smlpnet-tiny-a2-no-identity_8xb128_in1k.py':
    (TINY_A2, FULL, ('concat', 'parallel', False)),
    'smlpnet-tiny-a2-sequential_8xb128_in1k.py':
    (TINY_A2, FULL, ('concat', 'sequential', True)),
    'smlpnet-tiny-a2-sequential-no-identity_8xb128_in1k.py':
    (TINY_A2, FULL, ('concat', 'sequential', False)),
    'smlpnet-small-sum-fusion_8xb128_in1k.py': (SMALL, FULL,
                                                ('sum', 'parallel', True)),
    'smlpnet-small-weighted-sum-fusion_8xb128_in1k.py':
    (SMALL, FULL, ('weighted_sum', 'parallel', True)),
    'smlpnet-base-no-smlp-s1_8xb128_in1k.py': (BASE, ('dwconv', ) + FULL[1:],
                                               PAPER_SMLP),
    'smlpnet-base-no-smlp-s1-2_8xb128_in1k.py':
    (BASE, ('dwconv', ) * 2 + FULL[2:], PAPER_SMLP),
    'smlpnet-base-no-smlp-s1-3_8xb128_in1k.py':
    (BASE, ('dwconv', ) * 3 + FULL[3:], PAPER_SMLP),
    'smlpnet-base-no-smlp-s1-4_8xb128_in1k.py': (BASE, ('dwconv', ) * 4, None),
}


def build_model(config: Path):
    """The classifier of ``config``, with the config's data preprocessor
    as the Runner would set it."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model)


def num_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def stage_token_mixing(stage) -> str:
    """The token mixing of a stage's blocks, named as SMLPNet's
    ``token_mixing`` names it."""
    kinds = set()
    for block in stage.blocks:
        local = 'dwconv' if block.local_mixing is not None else None
        glob = {
            SparseMLP: 'smlp',
            TokenMLP: 'mlp'
        }.get(type(block.global_mixing))
        kinds.add('_'.join(filter(None, (local, glob))))
    assert len(kinds) == 1, f'blocks of one stage differ: {kinds}'
    return kinds.pop()


def smlp_design(backbone):
    designs = {(m.fusion, m.layout, m.identity)
               for m in backbone.modules() if isinstance(m, SparseMLP)}
    assert len(designs) <= 1, f'sMLP modules differ: {designs}'
    return designs.pop() if designs else None


def test_every_ablation_config_is_described():
    configs = {path.name for path in ABLATION_DIR.glob('*.py')}
    assert configs == set(EXPECTED_MODELS)


@pytest.mark.parametrize('name', sorted(EXPECTED_MODELS))
def test_config_builds_the_paper_model(name):
    backbone = build_model(ABLATION_DIR / name).backbone
    arch, token_mixing, design = EXPECTED_MODELS[name]
    assert (backbone.embed_dims, backbone.depths, backbone.alpha) == arch
    assert tuple(map(stage_token_mixing, backbone.stages)) == token_mixing
    assert smlp_design(backbone) == design


@pytest.mark.parametrize('name', sorted(EXPECTED_MODELS))
def test_config_trains_at_224(name):
    """One training forward/backward pass on a 224 image (batch 1 keeps the
    real model affordable on CPU): a finite loss, and every parameter gets a
    finite gradient, so no branch of the ablation is left unused."""
    from mmpretrain.structures import DataSample
    model = build_model(ABLATION_DIR / name).train()
    image = torch.randint(
        0,
        256, (3, 224, 224),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(0))
    data = model.data_preprocessor(
        dict(inputs=[image], data_samples=[DataSample().set_gt_label(3)]),
        training=True)
    loss = sum(model(**data, mode='loss').values())
    loss.backward()
    assert math.isfinite(loss.item())
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f'parameters without gradient: {missing[:5]}'
    assert all(p.grad.isfinite().all() for p in model.parameters())


@pytest.mark.parametrize('config,params_m', [
    ('ablations/smlpnet-tiny-a2_8xb128_in1k.py', 19.2),
    ('ablations/smlpnet-tiny-a2-global-only_8xb128_in1k.py', 19.1),
    ('smlpnet-small_8xb128_in1k.py', 48.6),
])
def test_parameter_counts_stated_by_the_paper(config, params_m):
    model = build_model(CONFIG_DIR / config)
    assert round(num_params(model) / 1e6, 1) == params_m


def test_sum_fusions_have_fewer_parameters_than_concat():
    concat = num_params(
        build_model(CONFIG_DIR / 'smlpnet-small_8xb128_in1k.py'))
    for name in ('smlpnet-small-sum-fusion_8xb128_in1k.py',
                 'smlpnet-small-weighted-sum-fusion_8xb128_in1k.py'):
        assert num_params(build_model(ABLATION_DIR / name)) < concat


def test_dense_token_mlp_rejects_other_input_sizes():
    model = build_model(ABLATION_DIR /
                        'smlpnet-tiny-a2-multi-stage-mlp_8xb128_in1k.py')
    with torch.no_grad(), pytest.raises(ValueError, match='img_size'):
        model.eval()(torch.rand(1, 3, 192, 192), mode='tensor')


def test_ablation_table_rows_cover_every_ablation():
    rows = {name for name in PAPER_ABLATIONS if name.startswith('ablations/')}
    assert rows == {f'ablations/{name}' for name in EXPECTED_MODELS}
    for name in PAPER_ABLATIONS:
        assert (CONFIG_DIR / name).is_file()


def test_ablation_table_counts():
    table = ablation_table([
        ABLATION_DIR / 'smlpnet-tiny-a2_8xb128_in1k.py',
        CONFIG_DIR / 'smlpnet-tiny_8xb128_in1k.py',
    ],
                           CONFIG_DIR,
                           display_root=REPO)
    rows = [[cell.strip() for cell in line.strip('|').split('|')]
            for line in table.splitlines() if line.startswith('| `')]
    assert rows[0][:2] == [
        '`configs/smlpnet/ablations/smlpnet-tiny-a2_8xb128_in1k.py`',
        'sMLPNet-T, alpha 2 (baseline)'
    ]
    params_m, gmacs = ([float(row[i]) for row in rows] for i in (2, 3))
    # The full sMLPNet-T: the paper's 24.1M and 4.99G.
    assert (params_m[1], gmacs[1]) == (24.12, 4.99)
    # alpha 3 -> 2 removes C x C multiply-adds twice per token and block of
    # the channel MLPs; tokens x C^2 is 56^2 x 80^2 in every stage.
    saved = 2 * 56**2 * 80**2 * sum((2, 8, 14, 2)) / 1e9
    assert gmacs[0] == pytest.approx(gmacs[1] - saved, abs=0.01)
    assert params_m[0] == 19.18
    assert rows[0][4:] == ['19.2', '81.3']
