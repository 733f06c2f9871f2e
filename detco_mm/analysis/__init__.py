"""Analysis of runs: loss curves with chance levels (:mod:`.loss_curves`) and the
initialisation study (:mod:`.init_study`: random init vs MoCo v2 vs DetCo, with seeds)."""
