# MMSelfSup's default runtime, with TensorBoard beside the text log: every scalar the logger
# writes (each loss term of each stage, the total loss, lr, data_time, time) also goes to
# <work_dir>/<timestamp>/vis_data/ as a TensorBoard events file (tensorboard is a dependency
# of MMSelfSup). View it with: tensorboard --logdir work_dirs/
_base_ = 'mmselfsup::selfsup/_base_/default_runtime.py'

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
# No fixed name (MMSelfSup's is 'visualizer'): the Runner then names the visualizer after the
# run, so a second run in the same process gets its own. With a fixed name MMEngine hands the
# second run the first run's visualizer, which keeps writing into the first run's directory.
visualizer = dict(_delete_=True, type='SelfSupVisualizer', vis_backends=vis_backends)
