/** `evalDim`: the value of a symbolic dim expression at given sizes, as cost signatures read it. */
import { assertEquals } from "./_assert.ts";
import { dimAdd, dimDiv, dimMul, dimSub, evalDim } from "../ir/dims.ts";
import { resolveDims } from "../cost/signature.ts";
import { SYMBOLIC_DIM } from "../cost/analytical.ts";

Deno.test("evalDim: what dims.ts builds evaluates to the arithmetic it stands for", () => {
  const h = "p2o.DynamicDimension.1";
  const conv = (d: string | number) => dimAdd(dimDiv(dimSub(d, 1), 2), 1); // 3×3, stride 2, pads 1
  assertEquals(evalDim(conv(h), { [h]: 640 }), 320);
  assertEquals(evalDim(conv(conv(h)), { [h]: 640 }), 160);
  assertEquals(evalDim(dimMul(dimMul("b", "seq"), 4), { b: 2, seq: 7 }), 56);
  assertEquals(evalDim(dimDiv("n", 3), { n: 10 }), 3); // floor quotient, as dimDiv on numbers
  assertEquals(evalDim("-2*x", { x: 3 }), -6);
  assertEquals(evalDim(7, {}), 7);
});

Deno.test("evalDim: unknown symbols and malformed text give undefined, not a guess", () => {
  assertEquals(evalDim("(h+w)", { h: 1 }), undefined);
  assertEquals(evalDim("4*resize__13", { h: 1 }), undefined);
  for (const bad of ["(h+", "h)", "h h", "*h", "(h)/(0)", ""]) assertEquals(evalDim(bad, { h: 4 }), undefined, bad);
});

Deno.test("evalDim: nesting as deep as a 20,000-layer chain of strided convs (no recursion)", () => {
  let d = "h";
  for (let i = 0; i < 20_000; i++) d = `((${d}-(1))/(1))+(1)`;
  assertEquals(evalDim(d, { h: 9 }), 9);
});

Deno.test("resolveDims: a strided conv's output dims by the input's size, unknown ones at SYMBOLIC_DIM", () => {
  const h = "p2o.DynamicDimension.1";
  const out = dimAdd(dimDiv(dimSub(h, 1), 2), 1);
  assertEquals(resolveDims([1, 16, out, "other"], { [h]: 640 }), [1, 16, 320, SYMBOLIC_DIM]);
});
