/**
 * The ONNX Attention op (opset 23/24) on WebGPU, through the fused attention kernel
 * (`attention_kernel.ts`) with the op's addressing and score transform:
 *
 *   s = scale·Q·Kᵀ → softcap·tanh(s / softcap) → + float mask / bool mask → causal, nonpad_kv_seqlen → softmax → ·V
 *
 * as `ir/ops/attention.ts` computes it. Q, K, V and Y are read and written in place, 4-D
 * (B, H, S, D) or 3-D (B, S, H·D) with q_num_heads / kv_num_heads; grouped-query heads read K and
 * V head ⌊h / (Hq / Hkv)⌋. With past_key/past_value, one copy kernel each writes present_key /
 * present_value (past then new keys along the sequence; a kernel-private temporary when the
 * present output is omitted) and the attention reads those. A mask broadcasts over batch, heads
 * and queries; its last dim may be shorter than the keys (the rest is −∞). Rows of any length:
 * past the kernel's one-pass limit it takes keys in chunks (an online softmax).
 *
 * The optional qk_matmul_output is one more kernel (a workgroup per score row) computing the
 * scores at qk_matmul_output_mode's stage with the same transform.
 *
 * Invariant: every Attention this lowering accepts computes the reference's outputs within
 * float32 rounding (the softmax in f32 whatever softmax_precision names, but double); what it
 * cannot (a double softmax, heads too large for workgroup memory) is refused at plan time with
 * `unsupported`, never approximated.
 * @module
 */
import { DataType } from "../ir/dtype.ts";
import { sizeOf } from "../ir/tensor.ts";
import { type AttentionConfig, attentionKernel, type HeadStrides } from "./attention_kernel.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { type LowerCtx, type Lowered, registerLowerings, type TensorInfo } from "./lowering.ts";
import { helperSource } from "./fusion.ts";
import { rowKernel, rowLoop, rowWorkgroup, trailingRows } from "./rows.ts";
import { Bindings, dot, f32Lit, NEG_INF, workgroupReduce } from "./wgsl.ts";

/**
 * Keys and workgroup f32s per tile, tried in order: WebGPU's 16 KiB; on llvmpipe, whose compile
 * time grows steeply with workgroup memory, 2 KiB (~0.4 s), then 8 KiB (~2 s) for large heads.
 */
const LIMITS = [{ keys: 256, floats: 4096 }];
const SOFTWARE_LIMITS = [{ keys: 64, floats: 512 }, { keys: 64, floats: 2048 }];

/** A Q/K/V operand as heads: (batch, heads, seq, head size) and where head `h`'s rows lie. */
interface Heads {
  b: number;
  h: number;
  s: number;
  d: number;
  /** strides of its matrices for query heads `group` per head of this operand */
  strides(group: number): HeadStrides;
}

/** View a 4-D operand, or split a 3-D (B, S, H·D) one into `heads` heads. */
function heads(t: TensorInfo, n: number, what: string, attr: string): Heads {
  if (t.dims.length === 4) {
    const [b, h, s, d] = t.dims;
    return { b, h, s, d, strides: (group) => ({ batch: h * s * d, head: s * d, group, row: d }) };
  }
  if (t.dims.length !== 3) unsupported(`${what} must be 3-D or 4-D, is ${t.dims.length}-D`);
  const [b, s, hidden] = t.dims;
  if (!(n > 0)) unsupported(`3-D ${what} needs the ${attr} attribute`);
  if (hidden % n !== 0) unsupported(`${what} hidden size ${hidden} is not a multiple of ${n} heads`);
  const d = hidden / n;
  return { b, h: n, s, d, strides: (group) => ({ batch: s * hidden, head: d, group, row: hidden }) };
}

/** The additive mask as WGSL statements on `s` at (b, h, i, j): broadcast, bool or float, short rows −∞. */
function maskCode(b: Bindings, m: TensorInfo, B: number, H: number, S: number, T: number): string {
  const dims = m.dims;
  if (dims.length < 1 || dims.length > 4) unsupported(`attn_mask must have rank 1 to 4, has rank ${dims.length}`);
  const [mb, mh, ms, mt] = [...new Array(4 - dims.length).fill(1), ...dims];
  const fits = (d: number, want: number) => d === 1 || d === want;
  if (!fits(mb, B) || !fits(mh, H) || !fits(ms, S) || mt > T) {
    unsupported(`attn_mask shape [${dims}] does not broadcast to [${B},${H},${S},${T}]`);
  }
  const isBool = m.dtype === DataType.BOOL;
  const type = requireStorage(m.dtype);
  if (!isBool && type !== "f32") unsupported("attn_mask must be bool or float");
  const st = [mh * ms * mt, ms * mt, mt, 1];
  const used = [mb, mh, ms, mt].map((d, k) => (d === 1 ? 0 : st[k]));
  const at = `${b.read(m.name, type)}[${dot(["bb", "hh", "i", "j"], used)}]`;
  const add = isBool ? `s = select(${NEG_INF}, s, ${at} != 0u);` : `s = s + ${at};`;
  return mt === 1 || mt === T ? add : `if (j < ${mt}u) { ${add} } else { s = ${NEG_INF}; }`;
}

/** What the score transform needs: sizes, the attributes, the optional inputs. */
interface ScoreSpec {
  B: number;
  H: number;
  S: number;
  T: number;
  past: number;
  scale: number;
  softcap: number;
  causal: boolean;
  mask?: TensorInfo;
  nonpad?: TensorInfo;
}

/**
 * `fn att_score(idx, x)`: the op's transform of the raw score `x` at S's flat index, up to `stage`
 * (0: scaled, 1: softcapped, 2: masked — qk_matmul_output_mode's stages before the softmax).
 */
function scoreFn(sp: ScoreSpec, stage = 2): (b: Bindings) => { source: string; helpers: string[] } {
  return (b) => {
    const lines = [`var s = x * ${f32Lit(sp.scale)};`];
    const cap = stage >= 1 && sp.softcap > 0;
    if (cap) lines.push(`s = ${f32Lit(sp.softcap)} * tanh_(s / ${f32Lit(sp.softcap)});`);
    if (stage >= 2 && sp.mask) lines.push(maskCode(b, sp.mask, sp.B, sp.H, sp.S, sp.T));
    if (stage >= 2 && sp.causal) lines.push(`if (j > i + ${sp.past}u) { s = ${NEG_INF}; }`);
    if (stage >= 2 && sp.nonpad) {
      lines.push(`if (i32(j) >= ${b.read(sp.nonpad.name, "i32")}[bb]) { s = ${NEG_INF}; }`);
    }
    const source = `fn att_score(idx: u32, x: f32) -> f32 {
  let j = idx % ${sp.T}u;
  let i = (idx / ${sp.T}u) % ${sp.S}u;
  let bt = idx / ${sp.S * sp.T}u;
  let bb = bt / ${sp.H}u;
  let hh = bt % ${sp.H}u;
  ${lines.join("\n  ")}
  return s;
}`;
    return { source, helpers: cap ? ["tanh_"] : [] };
  };
}

/** An operand the scores read: its buffer and where its heads' rows lie. */
interface Operand {
  info: TensorInfo;
  st: HeadStrides;
}

/**
 * The qk_matmul_output output: one workgroup per score row, the scores at `mode`'s stage
 * (3: after the softmax, recomputed in each pass so that f16 storage never rounds what it reads).
 */
function qkKernel(node: string, sp: ScoreSpec, mode: number, q: Operand, k: Operand, D: number, out: TensorInfo) {
  const { B, H, S, T } = sp;
  const layout = trailingRows([B, H, S, T], 3);
  const wg = rowWorkgroup(T);
  const b = new Bindings();
  const Q = b.read(q.info.name, "f32"), K = b.read(k.info.name, "f32");
  const f = scoreFn(sp, Math.min(mode, 2))(b);
  const O = b.write(out.name, "f32");
  const base = (st: HeadStrides) => `bh * ${st.batch}u + (hh / ${st.group}u) * ${st.head}u`;
  const score = `att_score(row * ${T}u + j, qk_dot(qb, kb + j * ${k.st.row}u))`;
  const helpers = `${helperSource(f.helpers)}
${f.source}
fn qk_dot(qb: u32, kb: u32) -> f32 {
  var a = 0.0;
  for (var d = 0u; d < ${D}u; d = d + 1u) { a = a + ${Q}[qb + d] * ${K}[kb + d]; }
  return a;
}`;
  const head = `let bt = row / ${S}u;
  let bh = bt / ${H}u;
  let hh = bt % ${H}u;
  let qb = ${base(q.st)} + (row % ${S}u) * ${q.st.row}u;
  let kb = ${base(k.st)};`;
  const body = mode < 3
    ? `${head}
  ${rowLoop(layout, wg, `${O}[at] = ${score};`)}`
    : `${head}
  var m = ${NEG_INF};
  ${rowLoop(layout, wg, `m = max(m, ${score});`)}
  ${workgroupReduce("max", "m", "mx", wg)}
  var e = 0.0;
  ${rowLoop(layout, wg, `e = e + exp(${score} - mx);`)}
  ${workgroupReduce("sum", "e", "sum", wg)}
  ${rowLoop(layout, wg, `${O}[at] = exp(${score} - mx) / sum;`)}`;
  return rowKernel({ name: "Attention.qk", nodes: [node], layout, wg, b, helpers, body });
}

/** A kernel writing `present` (B, H, P + S, D): `past` along the sequence, then `cur` (4-D or 3-D). */
function presentKernel(
  name: string,
  node: string,
  past: TensorInfo | undefined,
  cur: TensorInfo,
  c: Heads,
  present: TensorInfo,
): KernelSpec {
  const P = past ? past.dims[2] : 0;
  const { h: H, s: S, d: D } = c;
  const curSt = c.strides(1);
  return copyKernel({
    name,
    nodes: [node],
    dims: [c.b, H, P + S, D],
    out: present,
    value: (b, [c0, c1, c2, c3]) => {
      const t = requireStorage(present.dtype);
      const j = P ? `(${c2} - ${P}u)` : c2;
      const fromCur = `${b.read(cur.name, t)}[${dot([c0, c1, j, c3], [curSt.batch, curSt.head, curSt.row, 1])}]`;
      if (!past) return { expr: fromCur };
      const fromPast = `${b.read(past.name, t)}[${dot([c0, c1, c2, c3], [H * P * D, P * D, D, 1])}]`;
      return { code: `var x = ${fromCur};\n  if (${c2} < ${P}u) { x = ${fromPast}; }`, expr: "x" };
    },
  });
}

function lowerAttention(ctx: LowerCtx): Lowered {
  const [qI, kI, vI] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  for (const t of [qI, kI, vI]) if (requireStorage(t.dtype) !== "f32") unsupported("Q, K and V must be float");
  const precision = ctx.attrs.attrInt("softmax_precision", 0);
  if (precision === DataType.DOUBLE) unsupported("softmax_precision double: the kernel computes the softmax in f32");
  const q = heads(qI, ctx.attrs.attrInt("q_num_heads", 0), "Q", "q_num_heads");
  const kvHeads = ctx.attrs.attrInt("kv_num_heads", 0);
  const k = heads(kI, kvHeads, "K", "kv_num_heads"), v = heads(vI, kvHeads, "V", "kv_num_heads");
  const [B, Hq, Sq, D, Hkv, Skv, Dv] = [q.b, q.h, q.s, q.d, k.h, k.s, v.d];
  if (k.b !== B || v.b !== B) unsupported("Q, K and V must have the same batch size");
  if (k.d !== D) unsupported(`K head size ${k.d} differs from Q head size ${D}`);
  if (v.h !== Hkv || v.s !== Skv) unsupported("K and V must have the same heads and sequence length");
  if (Hq % Hkv !== 0) unsupported(`q heads ${Hq} are not a multiple of kv heads ${Hkv}`);
  const group = Hq / Hkv;
  if (ctx.hasInput(4) !== ctx.hasInput(5)) unsupported("past_key and past_value must be given together");
  const pastK = ctx.hasInput(4) ? ctx.input(4) : undefined, pastV = ctx.hasInput(5) ? ctx.input(5) : undefined;
  const P = pastK ? pastK.dims[2] : 0;
  if (pastK && pastV) {
    const ok = (t: TensorInfo, d: number) =>
      t.dims.length === 4 && t.dims[0] === B && t.dims[1] === Hkv && t.dims[2] === P && t.dims[3] === d;
    if (!ok(pastK, D) || !ok(pastV, Dv)) {
      unsupported(`past_key [${pastK.dims}] / past_value [${pastV.dims}] do not fit`);
    }
    if (pastK.dtype !== kI.dtype || pastV.dtype !== vI.dtype) unsupported("past_key/past_value types differ from K/V");
  }
  const T = P + Skv;
  const y = ctx.output(0);
  const yDims = qI.dims.length === 3 ? [B, Sq, Hq * Dv] : [B, Hq, Sq, Dv];
  if (y.dims.join() !== yDims.join()) unsupported(`Y has shape [${y.dims}], expected [${yDims}]`);
  const kernels: KernelSpec[] = [];
  // present_key / present_value: the outputs, or temporaries the attention reads when past is given
  const present = (i: 1 | 2, past: TensorInfo | undefined, cur: TensorInfo, c: Heads): TensorInfo | undefined => {
    if (!past && !ctx.hasOutput(i)) return undefined;
    const dims = [B, Hkv, T, c.d];
    const out = ctx.hasOutput(i) ? ctx.output(i) : { name: `${y.name}::present${i}`, dtype: DataType.FLOAT, dims };
    if (out.dims.join() !== dims.join()) unsupported(`present output ${i} has shape [${out.dims}], expected [${dims}]`);
    const spec = presentKernel(`Attention.present${i === 1 ? "Key" : "Value"}`, ctx.node.name, past, cur, c, out);
    if (!ctx.hasOutput(i)) spec.temporaries = [{ name: out.name, elements: sizeOf(dims) }];
    kernels.push(spec);
    return out;
  };
  const presentK = present(1, pastK, kI, k), presentV = present(2, pastV, vI, v);
  const cached = (c: Heads): HeadStrides => ({ batch: Hkv * T * c.d, head: T * c.d, group, row: c.d });
  const [kSrc, kSt] = pastK ? [presentK!, cached(k)] : [kI, k.strides(group)];
  const [vSrc, vSt] = pastV ? [presentV!, cached(v)] : [vI, v.strides(group)];
  const nonpad = ctx.opset >= 24 && ctx.hasInput(6) ? ctx.input(6) : undefined;
  if (nonpad && sizeOf(nonpad.dims) !== B) {
    unsupported(`nonpad_kv_seqlen has ${sizeOf(nonpad.dims)} elements, ${B} expected`);
  }
  if (nonpad && requireStorage(nonpad.dtype) !== "i32") unsupported("nonpad_kv_seqlen must be integer");
  const sp: ScoreSpec = {
    B,
    H: Hq,
    S: Sq,
    T,
    past: P,
    scale: ctx.attrs.hasAttr("scale") ? ctx.attrs.attrFloat("scale") : 1 / Math.sqrt(D),
    softcap: ctx.attrs.attrFloat("softcap", 0),
    causal: ctx.attrs.attrInt("is_causal", 0) !== 0,
    mask: ctx.hasInput(3) ? ctx.input(3) : undefined,
    nonpad,
  };
  if (ctx.hasOutput(3)) {
    const mode = ctx.attrs.attrInt("qk_matmul_output_mode", 0);
    if (mode < 0 || mode > 3) unsupported(`qk_matmul_output_mode must be 0 to 3, is ${mode}`);
    const qk = ctx.output(3);
    if (qk.dims.join() !== [B, Hq, Sq, T].join()) unsupported(`qk_matmul_output has shape [${qk.dims}]`);
    const [qo, ko] = [{ info: qI, st: q.strides(1) }, { info: kSrc, st: kSt }];
    if (sizeOf(qk.dims) > 0) kernels.push(qkKernel(ctx.node.name, sp, mode, qo, ko, D, qk));
  }
  if (sizeOf(yDims) === 0) return { kind: "kernels", kernels };
  if (T === 0 || D === 0) unsupported("attention over no keys or empty heads");
  const yOut = qI.dims.length === 3
    ? { batch: Sq * Hq * Dv, head: Dv, group: 1, row: Hq * Dv }
    : { batch: Hq * Sq * Dv, head: Sq * Dv, group: 1, row: Dv };
  const scores = (what: string): TensorInfo => ({
    name: `${y.name}::${what}`,
    dtype: DataType.FLOAT,
    dims: [B, Hq, Sq, T],
  });
  const cfg: AttentionConfig = {
    q: { info: qI },
    kt: { info: kSrc },
    v: { info: vSrc },
    s: scores("scores"),
    p: scores("probabilities"),
    out: y,
    name: "Attention",
    nodes: [ctx.node.name],
    layout: { heads: Hq, d: D, dv: Dv, q: q.strides(1), k: kSt, v: vSt, out: yOut },
    scoreFn: scoreFn(sp),
  };
  let spec: KernelSpec | undefined;
  for (const chunking of ctx.target.software ? SOFTWARE_LIMITS : LIMITS) {
    spec ??= attentionKernel({ ...cfg, chunking }, () => undefined);
  }
  if (!spec) unsupported(`heads of ${D} and ${Dv} do not fit the attention kernel's workgroup memory`);
  kernels.push(spec);
  return { kind: "kernels", kernels };
}

registerLowerings("", { Attention: { lower: lowerAttention } });
