// Test helper (for server.test.mjs and xtask/e2e/standin-ai/worker.test.mjs):
// checks that bytes are REAL audio of a plausible length, with the sox tools
// (`soxi`, `sox`) that `cargo xtask setup` installs with espeak-ng. Not a test
// file itself (the name matches no `node --test` pattern).
//
//   audioInfo(bytes, ext)            writes the bytes to a temporary file
//                                    named speech.<ext> and returns {type:
//                                    `soxi -t`, duration: `soxi -D` seconds}
//   pcmInfo(bytes, rate = 24000)     raw signed 16-bit little-endian mono:
//                                    {duration: samples / rate, rms: 0..1}
//   assertAudio(bytes, ext, {type, min, max})
//                                    asserts soxi's type and min ≤ duration ≤
//                                    max; returns the info
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function audioInfo(bytes, ext) {
  const dir = mkdtempSync(join(tmpdir(), "audio-check-"));
  try {
    const file = join(dir, `speech.${ext}`);
    writeFileSync(file, bytes);
    const soxi = (flag) => execFileSync("soxi", [flag, file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
    return { type: soxi("-t"), duration: Number(soxi("-D")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function pcmInfo(bytes, rate = 24000) {
  const b = Buffer.from(bytes);
  const n = Math.floor(b.length / 2);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = b.readInt16LE(i * 2) / 32768;
    sum += x * x;
  }
  return { duration: n / rate, rms: n ? Math.sqrt(sum / n) : 0 };
}

export function assertAudio(bytes, ext, { type = ext, min, max }) {
  const info = audioInfo(bytes, ext);
  assert.equal(info.type, type, `soxi -t of the ${ext} audio`);
  assert.ok(info.duration >= min && info.duration <= max, `${ext}: ${info.duration} s not in ${min}..${max} s`);
  return info;
}
