import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The PyTorch the benchmarks compare against. PyTorch 2 (oneDNN) is the honest anchor; Debian's python3-torch 1.13
 * has no oneDNN and runs the same UNet ~9× slower, so it is used only when nothing better can be had, and named so.
 * Order: `PYTHON` from the environment; else a virtual environment in `TORCH_VENV` (default
 * node_modules/.cache/ipgo-torch-venv), made on first use with `pip install torch numpy` (pip's configured
 * find-links folder holds the PyTorch 2 CPU wheel, so this works offline) and reused after; else /usr/bin/python3.
 */
export type TorchSource = 'PYTHON env' | 'venv pytorch 2 wheel' | 'debian fallback';
export interface TorchPython { python: string; source: TorchSource; version: string }

const DEFAULT_VENV = 'node_modules/.cache/ipgo-torch-venv';
const SYSTEM_PYTHON = '/usr/bin/python3';

function torchVersion(python: string): string | null {
  try {
    return execFileSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Creates (or completes) the venv; returns its python, or null with the reason logged. */
function ensureVenv(dir: string, log: (line: string) => void): string | null {
  const python = path.join(dir, 'bin', 'python');
  if (fs.existsSync(python) && torchVersion(python)) return python;
  log(`PyTorch: setting up ${dir} (python3 -m venv + pip install torch numpy, about 2 minutes, once)…`);
  const steps: Array<[string, string[]]> = [
    [SYSTEM_PYTHON, ['-m', 'venv', dir]],
    [python, ['-m', 'pip', 'install', '--quiet', 'torch', 'numpy']],
  ];
  for (const [cmd, args] of steps) {
    if (cmd === SYSTEM_PYTHON && fs.existsSync(python)) continue;
    const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) {
      log(`PyTorch: venv setup failed at \`${cmd} ${args.join(' ')}\`: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()}`);
      return null;
    }
  }
  return torchVersion(python) ? python : null;
}

/** The Python to time PyTorch with, or null when none imports torch. */
export function resolveTorchPython(log: (line: string) => void = console.log): TorchPython | null {
  const env = process.env;
  if (env.PYTHON) {
    const version = torchVersion(env.PYTHON);
    if (!version) throw new Error(`PYTHON=${env.PYTHON} cannot import torch`);
    return { python: env.PYTHON, source: 'PYTHON env', version };
  }
  const venvPython = ensureVenv(path.resolve(env.TORCH_VENV ?? DEFAULT_VENV), log);
  if (venvPython) return { python: venvPython, source: 'venv pytorch 2 wheel', version: torchVersion(venvPython)! };
  const version = torchVersion(SYSTEM_PYTHON);
  return version ? { python: SYSTEM_PYTHON, source: 'debian fallback', version } : null;
}

export interface TorchUNetTiming { torch: string; threads: number; latent: number; batch: number; unet_fwd_ms: number; unet_fwd_bwd_ms: number | null }

/**
 * bench/torch_unet.py at one latent size (batch, tokens and thread count as ours), forward and optionally
 * forward+backward (gradients wrt the latents and the conditioning), medians of `repeats`.
 */
export function timeTorchUNet(
  tp: TorchPython, o: { latent: number; batch: number; tokens: number; repeats: number; backward: boolean; threads: number },
): TorchUNetTiming {
  const script = path.resolve('bench/torch_unet.py');
  const args = [script, o.latent, o.batch, o.repeats, o.tokens, o.backward ? 1 : 0, o.threads].map(String);
  // One thread means one everywhere: torch's intra-op pool and any OpenMP/MKL pool it starts.
  const threadEnv = { OMP_NUM_THREADS: String(o.threads), MKL_NUM_THREADS: String(o.threads) };
  const out = execFileSync(tp.python, args, { encoding: 'utf8', env: { ...process.env, ...threadEnv }, maxBuffer: 16 * 2 ** 20 });
  const t = JSON.parse(out.trim().split('\n').pop()!) as TorchUNetTiming;
  if (t.latent !== o.latent || t.threads !== o.threads) throw new Error(`torch_unet.py ran ${t.latent}² on ${t.threads} threads, asked ${o.latent}² on ${o.threads}`);
  return t;
}

/** The notes every bench records with a PyTorch figure. */
export function torchNotes(tp: TorchPython | null): Record<string, string> {
  if (!tp) return { torch_version: 'none', torch_source: 'none: no venv could be made and /usr/bin/python3 has no torch' };
  return { torch_version: tp.version, torch_source: tp.source, torch_python: tp.python };
}
