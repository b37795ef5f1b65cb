"""torchvision models (random weights, batch 1) exported to ONNX with PyTorch's TorchScript exporter, to try
Saturn on real architectures the repo does not ship.
    python3 bench/zoo/torchvision_zoo.py OUT_DIR [NAME ...]
Tried with Debian bookworm's python3-torch 1.13 / python3-torchvision 0.14 / python3-onnx 1.12 (opset 17)."""
import sys, os, time, torch, torchvision.models as tv
torch.manual_seed(0)
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
which = sys.argv[2:] or None
def realistic(model):
    """Random weights that keep activations of order 1 (the default init zeroes some heads and
    shrinks others, which makes an output comparison with an absolute tolerance meaningless)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_var.uniform_(0.5, 2.0, generator=g); mod.running_mean.normal_(0, 0.1, generator=g)
                mod.weight.uniform_(0.5, 1.5, generator=g); mod.bias.normal_(0, 0.1, generator=g)
            elif isinstance(mod, torch.nn.Linear):
                mod.weight.normal_(0, mod.in_features ** -0.5, generator=g)
                if mod.bias is not None: mod.bias.normal_(0, 0.1, generator=g)
    return model
def m(name, ctor, size=64, **kw):
    if which and name not in which: return
    size = int(os.environ.get("ZOO_SIZE", size))  # e.g. ZOO_SIZE=224 for speed runs
    p = f"{out}/{name}.onnx"
    if os.path.exists(p): return
    t = time.time()
    try:
        model = realistic(ctor(weights=None, **kw)).eval()
        x = torch.randn(1, 3, size, size)
        with torch.set_grad_enabled(name == "vit_b_16"):  # grad on: MultiheadAttention leaves its fused fast path
            torch.onnx.export(model, (x,), p, opset_version=17, input_names=["input"], output_names=["output"])
        print(name, "ok", round(time.time() - t, 1), os.path.getsize(p), flush=True)
    except Exception as e:
        print(name, "FAIL", repr(e)[:300], flush=True)
m("alexnet", tv.alexnet, 224)
m("vgg11_bn", tv.vgg11_bn, 224)
m("resnet18", tv.resnet18)
m("resnext50_32x4d", tv.resnext50_32x4d)
m("wide_resnet50_2", tv.wide_resnet50_2)
m("densenet121", tv.densenet121)
m("googlenet", tv.googlenet, 64, aux_logits=False, init_weights=False)
m("inception_v3", tv.inception_v3, 96, aux_logits=False, init_weights=False)
m("mobilenet_v3_small", tv.mobilenet_v3_small)
m("mobilenet_v3_large", tv.mobilenet_v3_large)
m("mnasnet0_5", tv.mnasnet0_5)
m("efficientnet_b0", tv.efficientnet_b0)
m("efficientnet_v2_s", tv.efficientnet_v2_s)
m("regnet_x_400mf", tv.regnet_x_400mf)
m("regnet_y_400mf", tv.regnet_y_400mf)
m("shufflenet_v2_x1_0", tv.shufflenet_v2_x1_0)
m("convnext_tiny", tv.convnext_tiny)
m("swin_t", tv.swin_t, 64)
m("vit_b_16", tv.vit_b_16, 224)
m("maxvit_t", tv.maxvit_t, 224)
from torchvision.models import segmentation as seg
m("fcn_resnet50", seg.fcn_resnet50, 64, weights_backbone=None, aux_loss=False)
m("deeplabv3_mobilenet_v3_large", seg.deeplabv3_mobilenet_v3_large, 64, weights_backbone=None, aux_loss=False)
m("lraspp_mobilenet_v3_large", seg.lraspp_mobilenet_v3_large, 64, weights_backbone=None)
# detection: data-dependent shapes (NonZero, NonMaxSuppression, If): optimize handles them, WebGPU refuses NonZero
from torchvision.models import detection as det
for name, ctor in [("ssdlite320_mobilenet_v3_large", det.ssdlite320_mobilenet_v3_large),
                   ("fasterrcnn_mobilenet_v3_large_320_fpn", det.fasterrcnn_mobilenet_v3_large_320_fpn)]:
    if which and name not in which: continue
    try:
        model = ctor(weights=None, weights_backbone=None).eval()
        torch.onnx.export(model, ([torch.rand(3, 320, 320)],), f"{out}/{name}.onnx", opset_version=17, input_names=["image"])
        print(name, "ok", flush=True)
    except Exception as e:
        print(name, "FAIL", repr(e)[:300], flush=True)
