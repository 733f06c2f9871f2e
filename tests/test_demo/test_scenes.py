"""detco_mm.demo.scenes: shapes with exactly known boxes and masks, and their COCO records."""
import json

import numpy as np

from detco_mm.demo.scenes import coco_annotation, draw_objects


def test_coco_annotation_describes_the_drawn_shape():
    img, shapes = draw_objects(np.random.RandomState(0), (64, 96), num=3)
    assert len(shapes) == 3
    for i, shape in enumerate(shapes):
        ann = coco_annotation(10 + i, 7, 2, shape)
        ys, xs = np.nonzero(shape['mask'])
        assert ann['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                               ys.max() - ys.min() + 1]
        assert ann['area'] == int(shape['mask'].sum()) > 0
        polygon = np.array(ann['segmentation'][0]).reshape(-1, 2)
        np.testing.assert_array_equal(polygon, shape['polygon'])
        ids = (ann['id'], ann['image_id'], ann['category_id'], ann['iscrowd'])
        assert ids == (10 + i, 7, 2, 0)
        # plain Python numbers: what json.dump writes into an instances file
        assert json.loads(json.dumps(ann)) == ann
        assert all(isinstance(v, float) for v in ann['segmentation'][0])
