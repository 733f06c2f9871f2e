"""Pre-flight config checks: each mistake is named with its key and fix."""
import pytest
from mmengine.config import Config

import detco_mm  # noqa: F401
from detco_mm.engine.config_check import (ConfigError, accepted_arguments, check_data_paths,
                                          check_train_config, explain_unknown_key, set_strict_data)

from conftest import REPO_ROOT


def _cfg(root, **overrides):
    dataset = dict(type='mmcls.ImageNet', data_root=root, ann_file='meta/train.txt',
                   data_prefix=dict(img_path='train/'))
    dataset.update(overrides)
    return Config(dict(model=dict(type='DetCo', queue_len=64),
                       train_dataloader=dict(batch_size=4, drop_last=True, dataset=dataset)))


def test_valid_config_passes(image_folder):
    check_train_config(_cfg(image_folder(num_images=1)), world_size=2)


def test_missing_image_folder_is_named(image_folder):
    root = image_folder(num_images=1)
    with pytest.raises(ConfigError, match=r"train_dataloader\.dataset\.data_prefix\.img_path="
                       r"'images/': image folder .*/images does not exist"):
        check_train_config(_cfg(root, data_prefix=dict(img_path='images/')))


def test_wrapped_dataset_paths_are_checked(image_folder, tmp_path):
    cfg = _cfg(image_folder(num_images=1))
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2,
                                        dataset=dict(cfg.train_dataloader.dataset,
                                                     data_root=str(tmp_path / 'nope')))
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset\.dataset\.data_root='):
        check_train_config(cfg)


def test_every_dataset_of_a_concat_of_a_repeat_is_checked(image_folder, tmp_path):
    """ConcatDataset[RepeatDataset[ok], bad]: the messages name the inner key and the paths."""
    root = image_folder(num_images=1)
    good = _cfg(root).train_dataloader.dataset
    cfg = _cfg(root)
    cfg.train_dataloader.dataset = dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=dict(good)), dict(good)])
    concat = cfg.train_dataloader.dataset
    check_data_paths(cfg)
    key = 'train_dataloader.dataset.datasets.1'
    concat['datasets'][1] = dict(good, ann_file='meta/val.txt')
    with pytest.raises(ConfigError) as e:
        check_data_paths(cfg)
    assert str(e.value) == (
        f"{key}.ann_file='meta/val.txt' not found: {root}/meta/val.txt does not exist "
        f"({key}.data_root={root!r}). Point {key}.data_root at the dataset, or set "
        f'{key}.ann_file to its list of images (one "relative/path" line per image, a label '
        f"after it is optional), or to '' to use every image under the image folder.")
    key = 'train_dataloader.dataset.datasets.0.dataset'
    concat['datasets'][0]['dataset']['data_root'] = str(tmp_path / 'nope')
    with pytest.raises(ConfigError) as e:
        check_data_paths(cfg)
    assert str(e.value) == (
        f"{key}.data_root={str(tmp_path / 'nope')!r} does not exist (resolved: "
        f"{tmp_path / 'nope'}); set it with --cfg-options {key}.data_root=/path/to/your/images "
        f'(see README "Pre-training").')


def test_image_folder_message_names_the_prefix_as_configured(image_folder):
    """``data_prefix`` as a plain folder is named as such; other prefixes are not checked."""
    root = image_folder(num_images=1)
    with pytest.raises(ConfigError) as e:
        check_data_paths(_cfg(root, data_prefix='images'))
    key = 'train_dataloader.dataset'
    assert str(e.value) == (
        f"{key}.data_prefix='images': image folder {root}/images does not exist "
        f"({key}.data_root={root!r}); set it with --cfg-options {key}.data_root=/path/to/your/"
        f'images (see README "Pre-training"), or set {key}.data_prefix.')
    check_data_paths(_cfg(root, data_prefix=dict(img_path='train/', seg_map_path='nope/')))


def test_strict_data_switch_sets_every_loader():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/detco/detco_r50_8xb32.py')
    inner = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=inner), dict(inner)])
    assert set_strict_data(cfg) == 2
    concat = cfg.train_dataloader.dataset
    for dataset in (concat.datasets[0].dataset, concat.datasets[1]):
        assert dataset.pipeline[1] == dict(type='RobustLoadImageFromFile', strict=True)
    plain = Config(dict(train_dataloader=dict(dataset=dict(
        pipeline=[dict(type='LoadImageFromFile')]))))
    with pytest.raises(ConfigError, match='^--strict-data needs RobustLoadImageFromFile as the '
                       r'loading step of train_dataloader\.dataset\.pipeline'):
        set_strict_data(plain)


def test_remote_and_empty_paths_are_not_checked():
    check_train_config(_cfg('s3://bucket/imagenet/'))
    cfg = _cfg('')
    cfg.train_dataloader.dataset.update(ann_file='', data_prefix=dict(img_path=''))
    check_train_config(cfg)


def test_queue_needs_drop_last(image_folder):
    cfg = _cfg(image_folder(num_images=1))
    cfg.train_dataloader.drop_last = False
    with pytest.raises(ConfigError, match='train_dataloader.drop_last must be True'):
        check_train_config(cfg)


def test_accepted_arguments_follow_kwargs_up_the_mro():
    from mmcls.datasets import ImageNet

    from detco_mm.models.algorithms.detco import DetCo
    assert {'queue_len', 'feat_dim', 'momentum', 'backbone'} <= accepted_arguments(DetCo)
    assert {'data_root', 'ann_file', 'pipeline', 'max_refetch'} <= accepted_arguments(ImageNet)


def test_unrelated_type_errors_are_left_alone():
    cfg = Config(dict(model=dict(type='DetCo', queue_len=64)))
    assert explain_unknown_key(cfg, TypeError('unsupported operand')) is None
    assert explain_unknown_key(cfg, TypeError(
        "DetCo.__init__() got an unexpected keyword argument 'not_in_cfg'")) is None


# ----------------------------------------------------------------------------- issue 13.5
def _tiny(**options):
    import os.path as osp

    from conftest import TEST_CONFIGS
    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'detco_r18_tiny.py'))
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('option,message', [
    ('default_hooks.checkpoint.intervl', 'config key default_hooks.checkpoint.intervl is not an '
     'argument of CheckpointHook: did you mean default_hooks.checkpoint.interval?'),
    ('optim_wrapper.optimizer.momentun', 'config key optim_wrapper.optimizer.momentun is not an '
     'argument of SGD: did you mean optim_wrapper.optimizer.momentum?'),
    ('optim_wrapper.clip_gard', 'config key optim_wrapper.clip_gard is not an argument of '
     'OptimWrapper: did you mean optim_wrapper.clip_grad?'),
    ('train_dataloader.batch_szie', 'config key train_dataloader.batch_szie is not an argument '
     'of DataLoader: did you mean train_dataloader.batch_size?'),
    ('param_scheduler.0.T_maxx', 'config key param_scheduler.0.T_maxx is not an argument of '
     'CosineAnnealingLR: did you mean param_scheduler.0.T_max?'),
    ('train_dataloader.sampler.shufle', 'config key train_dataloader.sampler.shufle is not an '
     'argument of ResumableSampler: did you mean train_dataloader.sampler.shuffle?'),
    ('train_dataloader.dataset.ann_fille', 'config key train_dataloader.dataset.ann_fille is '
     'not an argument of ImageFolderDataset: did you mean train_dataloader.dataset.ann_file?'),
    ('train_dataloader.dataset.pipeline.1.strictt', 'config key train_dataloader.dataset.'
     'pipeline.1.strictt is not an argument of RobustLoadImageFromFile: did you mean '
     'train_dataloader.dataset.pipeline.1.strict?'),
    ('model.neck.hid_channel', 'config key model.neck.hid_channel is not an argument of '
     'DetCoNeck: did you mean model.neck.hid_channels?'),
    ('model.head.temprature', 'config key model.head.temprature is not an argument of '
     'HierarchicalContrastiveHead: did you mean model.head.temperature?'),
    ('train_cfg.max_epoch', 'config key train_cfg.max_epoch is not an argument of '
     'EpochBasedTrainLoop: did you mean train_cfg.max_epochs?'),
])
def test_every_built_section_is_checked_with_key_path_and_suggestion(option, message):
    """Before: ``intervl`` failed at the first save, an epoch in; the others as raw
    TypeErrors without the key path."""
    if option.startswith('param_scheduler.0.'):
        cfg = _tiny()
        cfg.param_scheduler[0][option.rsplit('.', 1)[1]] = 2
    elif option.startswith('train_dataloader.dataset.pipeline.1.'):
        cfg = _tiny()
        cfg.train_dataloader.dataset.pipeline[1]['strictt'] = True
    else:
        cfg = _tiny(**{option: 1})
    with pytest.raises(ConfigError) as error:
        check_train_config(cfg)
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize('options,message', [
    (dict(model=dict(backbone=dict(depth=50))),
     'model.neck.in_channels=(64, 128, 256, 512) does not match the stages '
     'model.backbone.out_indices=[1, 2, 3, 4] of a ResNet-50 (model.backbone.depth=50), whose '
     'channels are (256, 512, 1024, 2048). Set model.neck.in_channels=[256, 512, 1024, 2048]'),
    (dict(model=dict(backbone=dict(out_indices=[0, 1, 2, 3]))),
     'model.neck.in_channels=(64, 128, 256, 512) does not match the stages '
     'model.backbone.out_indices=[0, 1, 2, 3] of a ResNet-18'),
    (dict(model=dict(backbone=dict(out_indices=[1, 2, 3, 5]))),
     "model.backbone.out_indices=[1, 2, 3, 5]: [5] not a stage of MMSelfSup's ResNet"),
    (dict(model=dict(feat_dim=128)),
     'model.feat_dim=128 but model.neck.out_channels=16'),
])
def test_shape_mistakes_name_the_config_keys(options, message):
    """Before: shape errors in the first forward that named no config key."""
    with pytest.raises(ConfigError) as error:
        check_train_config(_tiny(**options))
    assert message in str(error.value)


def test_shipped_configs_pass_the_key_and_shape_checks():
    import glob
    import os.path as osp

    from detco_mm.engine.config_check import check_config_keys, check_model_shapes

    from conftest import REPO_ROOT, TEST_CONFIGS
    paths = glob.glob(osp.join(REPO_ROOT, 'configs', 'detco', '*.py')) + glob.glob(
        osp.join(TEST_CONFIGS, '*.py'))
    assert len(paths) >= 6
    for path in paths:
        cfg = Config.fromfile(path)
        check_config_keys(cfg)
        check_model_shapes(cfg)
