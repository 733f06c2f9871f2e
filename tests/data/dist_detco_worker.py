"""Run by tests under torchrun with 2 CPU processes: shuffle BN and the queues across ranks.

Checks, on every rank:
- batch_shuffle_ddp moves each image's patch set with the image, and batch_unshuffle_gather
  restores this rank's order and returns every rank's samples in rank order;
- DetCo enqueues the keys of both ranks, and its loss pairs each query with its own key.
  The backbone uses GroupNorm, so a key does not depend on which images share its batch and
  the expected keys can be computed without shuffling.
Prints 'OK rank N' at the end.
"""
import torch
import torch.distributed as dist

import detco_mm  # noqa: F401
from detco_mm.models.utils import batch_shuffle_ddp, batch_unshuffle_gather
from mmselfsup.registry import MODELS

dist.init_process_group('gloo')
rank, world = dist.get_rank(), dist.get_world_size()
B = 4

# --- batch shuffle: image id i is encoded in the image and in each of its 9 patches
ids = torch.arange(B, dtype=torch.float32) + 100 * rank
images = ids.view(B, 1, 1, 1).expand(B, 3, 2, 2).clone()
patches = ids.view(B, 1, 1, 1, 1).expand(B, 9, 3, 2, 2).clone()
torch.manual_seed(rank)  # a different permutation per rank: only rank 0's is used
(images_s, patches_s), idx_unshuffle = batch_shuffle_ddp(images, patches)
assert torch.equal(images_s[:, 0, 0, 0], patches_s[:, 0, 0, 0, 0]), 'patches left their image'
assert torch.equal(patches_s.amin(dim=(1, 2, 3, 4)), patches_s.amax(dim=(1, 2, 3, 4)))
every_id = torch.cat([torch.arange(B) + 100 * r for r in range(world)]).float()
gathered = [torch.zeros(B) for _ in range(world)]
dist.all_gather(gathered, images_s[:, 0, 0, 0].contiguous())
assert sorted(torch.cat(gathered).tolist()) == every_id.tolist(), 'not a permutation'
assert not torch.equal(torch.cat(gathered), every_id), 'nothing was shuffled'
mine, everyone = batch_unshuffle_gather(images_s[:, 0, 0, 0], idx_unshuffle)
assert torch.equal(mine, ids) and torch.equal(everyone, every_id)

# --- DetCo with 2 ranks
torch.manual_seed(0)  # the same initial weights and queues on both ranks
model = MODELS.build(dict(
    type='DetCo', queue_len=16, feat_dim=8, momentum=0.99,
    data_preprocessor=dict(type='mmselfsup.DetCoDataPreprocessor'),
    backbone=dict(type='ResNet', depth=18, out_indices=[1, 2, 3, 4],
                  norm_cfg=dict(type='GN', num_groups=8)),
    neck=dict(type='DetCoNeck', in_channels=(64, 128, 256, 512), hid_channels=16,
              out_channels=8),
    head=dict(type='HierarchicalContrastiveHead')))
g = torch.Generator().manual_seed(10 + rank)  # different images on each rank
x1, x2 = torch.randn(B, 3, 32, 32, generator=g), torch.randn(B, 3, 32, 32, generator=g)
p3, p4 = torch.randn(B, 9, 3, 16, 16, generator=g), torch.randn(B, 9, 3, 16, 16, generator=g)
queues = model.global_queue.clone(), model.local_queue.clone()
torch.manual_seed(rank)
losses = model.loss([x1, x2, p3, p4], data_samples=[])

backbone_k, neck_k = model.encoder_k.module
with torch.no_grad():
    global_k = neck_k.forward_global(backbone_k(x2))
    local_k = neck_k.forward_local(backbone_k(p4.flatten(0, 1)))
    global_q = model.neck.forward_global(model.backbone(x1))
    local_q = model.neck.forward_local(model.backbone(p3.flatten(0, 1)))
    expected = model.head(global_q, local_q, global_k, local_k, list(queues[0].unbind(0)),
                          list(queues[1].unbind(0)))
for key, value in expected.items():
    torch.testing.assert_close(losses[key], value, rtol=1e-4, atol=1e-5, msg=key)

assert model.queue_ptr.item() == B * world, model.queue_ptr
for stage in range(4):
    for queue, keys in ((model.global_queue, global_k), (model.local_queue, local_k)):
        all_keys = [torch.zeros_like(keys[stage]) for _ in range(world)]
        dist.all_gather(all_keys, keys[stage].contiguous())
        torch.testing.assert_close(queue[stage, :, :B * world], torch.cat(all_keys).T)
print(f'OK rank {rank}', flush=True)
dist.destroy_process_group()
