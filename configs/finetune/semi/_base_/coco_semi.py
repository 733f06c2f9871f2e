# Semi-supervised COCO (paper Tables 10-12): fine-tune on 1 / 2 / 5 / 10 % of the train2017
# labels, evaluate on the whole val2017. The paper gives neither the subsets nor the schedules;
# our choices:
# - subsets: image-level random, seed 0: the sorted image ids permuted by
#   numpy.random.RandomState(0), the first round(N x p / 100) images with all their annotations
#   (a smaller subset lies inside every larger one). Make them once, next to the full file:
#     python tools/dataset_converters/coco_subset.py \
#         data/coco/annotations/instances_train2017.json --percent 1 2 5 10
# - schedule: the 12k one for every subset (configs/finetune/*_12k.py, which the semi configs
#   inherit unchanged but for the training annotation file).
# Another seed S: make its files with --seed S and add --cfg-options
#   train_dataloader.dataset.ann_file=annotations/instances_train2017_<p>pct_seed<S>.json
# The configs fill in {percent}; relative to data_root, like the parents' ann_file.
semi_ann_file = 'annotations/instances_train2017_{percent}pct_seed0.json'
