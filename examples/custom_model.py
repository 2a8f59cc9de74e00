"""Build your own model from hpskit blocks: a ResNet-50 D-PoSE variant without the depth branch.

    python examples/custom_model.py

timm ResNet-50 levels → 1×1 "neck" to HRNet-W48 widths → parameter-free fusion (upsample + concat, 720 ch) →
U-Net-lite part decoder → part soft-attention → D-PoSE regressor. It returns a DPoSEOutput and has a
``body_model``, so hpskit.models.predict runs it on whole images like the paper's model. Random weights.
"""

import timm
import torch
import torch.nn.functional as F
from torch import nn

from hpskit.attention import PartAttention
from hpskit.body import NUM_PARTS, SMPLXBody
from hpskit.decoders import UNetLiteDecoder
from hpskit.heads import DPoSERegressor
from hpskit.models import DPoSEOutput, predict

WIDTHS = (48, 96, 192, 384)  # the decoder and attention sizes of D-PoSE's HRNet-W48


class ResNetPoSE(nn.Module):
    input_size = 224

    def __init__(self, body_model: str = "standin"):
        super().__init__()
        self.backbone = timm.create_model("resnet50", features_only=True, out_indices=(1, 2, 3, 4))
        levels = self.backbone.feature_info.channels()  # (256, 512, 1024, 2048)
        self.neck = nn.ModuleList(nn.Conv2d(c, w, 1) for c, w in zip(levels, WIDTHS))
        self.part_decoder = UNetLiteDecoder(WIDTHS, out_channels=NUM_PARTS, final_activation=None)
        self.attention = PartAttention(sum(WIDTHS))
        self.regressor = DPoSERegressor(att_channels=sum(WIDTHS), depth_channels=0)  # no depth slot
        self.body_model = SMPLXBody(body_model)

    def forward(self, images: torch.Tensor, bbox_info: torch.Tensor) -> DPoSEOutput:
        feats = [proj(f) for proj, f in zip(self.neck, self.backbone(images))]  # strides 4, 8, 16, 32
        fused = torch.cat([F.interpolate(f, size=feats[0].shape[-2:], mode="bilinear", align_corners=True)
                           for f in feats], dim=1)  # (B, 720, H/4, W/4)
        part_logits, _ = self.part_decoder(feats)  # (B, 23, H, W)
        tokens = self.attention(fused, part_logits[:, 1:])  # (B, 22, 720): one token per body part
        out = self.regressor(tokens, bbox_info, None)
        return DPoSEOutput(pose_rotmat=out.pose_rotmat, pose_6d=out.pose_6d, betas=out.betas, cam=out.cam,
                           part_logits=part_logits)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = ResNetPoSE().eval()
    print({name: sum(p.numel() for p in m.parameters()) for name, m in model.named_children()})
    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224), torch.zeros(2, 3))
    print({k: tuple(v.shape) for k, v in vars(out).items() if isinstance(v, torch.Tensor)})
    image = torch.full((3, 360, 480), 128, dtype=torch.uint8)  # any picture; boxes (x0, y0, x1, y1)
    pred = predict(model, image, torch.tensor([[100.0, 40.0, 220.0, 330.0], [260.0, 60.0, 380.0, 340.0]]))
    print("vertices", tuple(pred.vertices.shape), "joints2d", tuple(pred.joints2d.shape),
          "transl (m)", [[round(x, 2) for x in t] for t in pred.transl.tolist()])
