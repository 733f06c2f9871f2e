# DetCo -> COCO Mask R-CNN R50-C4 2x (paper Table 13): 24 epochs, lr steps at epochs 16 and 22;
# everything else as mask_rcnn_c4_detco.py. (MMSelfSup's own C4 2x config sets a 24-epoch lr
# schedule but then max_epochs=12, so it is not used here.)
_base_ = './mask_rcnn_c4_detco.py'

train_cfg = dict(max_epochs=24)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22], gamma=0.1)
]
