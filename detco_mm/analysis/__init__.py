"""Analysis of runs: loss curves with chance levels (:mod:`.loss_curves`), the
initialisation study (:mod:`.init_study`: random init vs MoCo v2 vs DetCo, with seeds), the
train-step and data-pipeline speed of DetCo against MoCo v2 (:mod:`.benchmark_speed`) and the
per-view cost of the pre-training view pipelines (:mod:`.pipeline_speed`)."""
