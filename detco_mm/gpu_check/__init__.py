"""The prepared GPU check of detco-mm (``tools/gpu_check.py``) and its embedded data.

- :mod:`.detection_sets`: tiny COCO / VOC / Cityscapes sets in MMDetection's layouts;
- :mod:`.check`: the steps (environment and CUDA ops, pre-training through ``tools/train.py``
  and ``tools/dist_train.sh``, backbone export, fine-tuning every detector family with
  evaluation), their figures and the JSON / Markdown report;
- :mod:`.hooks`: ``ChannelsLastHook``, which the pre-training runs use for channels-last.

Nothing here is imported by ``import detco_mm``.
"""
