"""PyTorch CUDA eager fp32 beside Saturn's GPU times (issue 15), on the device machine.

The four `export_zoo.py perf` architectures built the same way (random weights, seed 0): resnet50,
mobilenet_v2 (224², batch 1), bert_base and gpt2_small (sequence 128). Per model and setting:
  - gpu_ms: the forward alone, input already on the GPU, CUDA events, median of 50 after 10 warm-ups;
  - e2e_ms: input from the CPU, forward, output back to the CPU (synchronized), wall median of 50.
Settings: "default" (PyTorch's defaults: cuDNN convolutions may use TF32, matmuls do not) and
"strict" (TF32 off everywhere: true fp32, what Saturn computes).
With --ort DIR it also times ONNX Runtime's CPU provider (Python onnxruntime, level "all", default
threads) on DIR/{resnet50,mobilenet_v2,bert_base,gpt2_small_dynamo}.onnx: median of 20 after 3 runs,
seeded random inputs (floats normal, token ids in [0, 100)).
With --export-decode DIR it also exports gpt2_small at sequence 1 (a decode-shaped step without a KV
cache, dynamo exporter, opset 18) as DIR/gpt2_small_seq1.onnx for bench/gpu_quant.ts.

    python3 bench/gpu_torch.py OUT.json [--ort DIR] [--export-decode DIR]
"""
import json, sys, time, statistics, warnings
import torch
warnings.filterwarnings("ignore")
import torchvision.models as tv
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

out = sys.argv[1]
res = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "models": {}}

class Last(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, *a): return s.m(*a).last_hidden_state

def build():
    torch.manual_seed(0)
    return {
        "resnet50": (tv.resnet50(), torch.randn(1, 3, 224, 224)),
        "mobilenet_v2": (tv.mobilenet_v2(), torch.randn(1, 3, 224, 224)),
        "bert_base": (Last(BertModel(BertConfig())), torch.randint(0, 1000, (1, 128))),
        "gpt2_small": (Last(GPT2Model(GPT2Config())), torch.randint(0, 1000, (1, 128))),
    }

def measure(model, x, n=50, warm=10):
    model = model.cuda().eval()
    xg = x.cuda()
    with torch.no_grad():
        for _ in range(warm): model(xg)
        torch.cuda.synchronize()
        gpu = []
        for _ in range(n):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); model(xg); b.record(); b.synchronize()
            gpu.append(a.elapsed_time(b))
        e2e = []
        for _ in range(n):
            t = time.perf_counter(); y = model(x.cuda()).cpu(); e2e.append((time.perf_counter() - t) * 1e3)
    return {"gpu_ms": round(statistics.median(gpu), 3), "e2e_ms": round(statistics.median(e2e), 3)}

models = build()
for setting, tf32 in (("default", None), ("strict", False)):
    torch.backends.cudnn.allow_tf32 = True if tf32 is None else tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    for name, (m, x) in models.items():
        res["models"].setdefault(name, {})[setting] = measure(m, x)
        print(name, setting, res["models"][name][setting], flush=True)
json.dump(res, open(out, "w"), indent=1)

if "--ort" in sys.argv:
    import numpy as np, onnxruntime as ort
    d = sys.argv[sys.argv.index("--ort") + 1]
    res["ort_cpu"] = {"version": ort.__version__}
    rng = np.random.default_rng(0)
    for f in ("resnet50", "mobilenet_v2", "bert_base", "gpt2_small_dynamo"):
        try:
            so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            s = ort.InferenceSession(f"{d}/{f}.onnx", so, providers=["CPUExecutionProvider"])
            feeds = {}
            for i in s.get_inputs():
                shape = [x if isinstance(x, int) else 1 for x in i.shape]
                feeds[i.name] = rng.integers(0, 100, shape).astype(np.int64) if "int64" in i.type else rng.standard_normal(shape).astype(np.float32)
            for _ in range(3): s.run(None, feeds)
            ts = []
            for _ in range(20):
                t = time.perf_counter(); s.run(None, feeds); ts.append((time.perf_counter() - t) * 1e3)
            res["ort_cpu"][f] = round(statistics.median(ts), 3)
        except Exception as e:
            res["ort_cpu"][f] = repr(e)[:200]
        print("ort cpu", f, res["ort_cpu"][f], flush=True)
    json.dump(res, open(out, "w"), indent=1)

if "--export-decode" in sys.argv:
    d = sys.argv[sys.argv.index("--export-decode") + 1]
    torch.manual_seed(0)
    m = Last(GPT2Model(GPT2Config())).eval()
    t = time.time()
    with torch.no_grad():
        torch.onnx.export(m, (torch.randint(0, 1000, (1, 1)),), f"{d}/gpt2_small_seq1.onnx", dynamo=True,
                          opset_version=18, input_names=["input_ids"], external_data=False)
    print("exported gpt2_small_seq1", round(time.time() - t, 1), "s", flush=True)
