"""Cross-checks the TypeScript torch zip reader/writer against real PyTorch (test helper; needs python3-torch).

  torch-crosscheck.py save SPEC.json OUT.pth   torch.save a state dict described by SPEC (see below)
  torch-crosscheck.py views OUT.pt             torch.save a nested dict with strided views and fp16/bf16/int64
  torch-crosscheck.py load IN.pth [PATH...]    torch.load, print {name: {dtype, shape, sha256}} as JSON; PATH picks
                                               a nested dict (e.g. state_dict)

SPEC: {"safetensors": file, "order": [names], "metadata": [[prefix, version], ...] or null}. The safetensors file is
parsed by hand (8-byte length, JSON header, raw bytes) so that only torch is needed.
"""
import collections
import hashlib
import json
import struct
import sys

import torch

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'I64': torch.int64, 'I32': torch.int32}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        b, end = e['data_offsets']
        raw = bytearray(data[8 + n + b:8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=DTYPES[e['dtype']]).reshape(e['shape']).clone()
    return out


def save(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    tensors = read_safetensors(spec['safetensors'])
    sd = collections.OrderedDict((k, tensors[k]) for k in spec['order'])
    if spec.get('metadata') is not None:
        sd._metadata = collections.OrderedDict((p, {'version': v}) for p, v in spec['metadata'])
    torch.save(sd, out_path)


def views(out_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = {
        'state_dict': {
            'transposed': base.t(),
            'row': base[2],
            'column': base[:, 3],
            'block': base[1:3, 2:5],
            'half': torch.tensor([1.5, -2.25, 65504.0], dtype=torch.float16),
            'bf16': torch.tensor([[1.0, -3.5], [0.1, 7e30]], dtype=torch.bfloat16),
            'ids': torch.tensor([0, 49406, -7], dtype=torch.int64),
            'scalar': torch.tensor(2.5),
        },
        'epoch': 3,
        'name': 'views',
    }
    torch.save(sd, out_path)


def contiguous_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def load(path, keys):
    obj = torch.load(path, map_location='cpu')
    for k in keys:
        obj = obj[k]
    out = {}
    for name, t in obj.items():
        out[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape),
                     'sha256': hashlib.sha256(contiguous_bytes(t)).hexdigest()}
    print(json.dumps(out))


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'save':
        save(sys.argv[2], sys.argv[3])
    elif cmd == 'views':
        views(sys.argv[2])
    elif cmd == 'load':
        load(sys.argv[2], sys.argv[3:])
    else:
        raise SystemExit(f'unknown command {cmd}')
