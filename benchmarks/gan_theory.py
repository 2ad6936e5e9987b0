"""The theorem on C(G) and the non-saturating trick, as pictures and numbers (seconds on a CPU).

* theorem: data N(0, 1), a fixed linear generator G(z) = z + 1.5 (density N(1.5, 1)); the
  GAN's discriminator is trained by the library's Algorithm 2 step with the generator held
  (k_steps larger than the run); its D(x) is compared with D* = p_data / (p_data + p_g) and
  V(D) with -log 4 + 2 JSD (quadrature on a fine grid) -> results/gan_theorem.png;
* trick: |d loss_G / d logit| against D(G(z)) under both objectives -> results/gan_trick.png.

Usage: python benchmarks/gan_theory.py
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, update_results  # noqa: E402

from dgm.eval.pictures import plot_theorem, plot_trick  # noqa: E402
from dgm.eval.theory import game_value, generator_gradients, jsd, optimal_discriminator  # noqa: E402
from dgm.models.gan import GAN, GANConfig  # noqa: E402


def main() -> int:
    # no options: the parser gives --help and refuses a stray flag before anything is rewritten
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    torch.set_num_threads(1)
    cfg = GANConfig(latent=1, g_hidden=(), d_hidden=(32, 32), output="linear", k_steps=10**9,
                    lr_d=3e-3)
    gan = GAN(cfg, (1,)).reset_parameters(0)
    with torch.no_grad():
        gan.G[0].weight.fill_(1.0)
        gan.G[0].bias.fill_(1.5)
    opts = gan.configure_optimizers(lambda p, **kw: torch.optim.Adam(p, **kw))
    g = torch.Generator().manual_seed(0)
    steps = 3000
    for _ in range(steps):
        gan.training_step(gan, torch.randn(256, 1, generator=g), opts, g)
    grid = np.linspace(-6, 7.5, 2701)
    dx = grid[1] - grid[0]
    p = np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi)
    q = np.exp(-(grid - 1.5) ** 2 / 2) / math.sqrt(2 * math.pi)
    d = gan.discriminate(torch.tensor(grid[:, None], dtype=torch.float32)).double().numpy()
    d_star = optimal_discriminator(p, q)
    v_trained, v_star = game_value(p, q, d, dx), game_value(p, q, d_star, dx)
    exact = -math.log(4) + 2 * jsd(p, q, dx)
    bulk = (grid > -1.5) & (grid < 3.0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_theorem(RESULTS / "gan_theorem.png", grid, p, q, d, v_trained)
    plot_trick(RESULTS / "gan_trick.png")
    gr = generator_gradients(np.array([0.5, 1e-2, 1e-4, 1e-6]))
    details = {"data": "N(0, 1)", "generator": "G(z) = z + 1.5, z ~ N(0, 1)",
               "discriminator_steps": steps, "batch": 256,
               "value_trained_D": v_trained, "value_D_star": v_star,
               "minus_log4_plus_2jsd": exact, "jsd": jsd(p, q, dx),
               "max_abs_D_minus_D_star_in_bulk": float(np.abs(d - d_star)[bulk].max()),
               "bulk": [-1.5, 3.0],
               "generator_grad_at_D": {"D": [0.5, 1e-2, 1e-4, 1e-6],
                                       **{k: v.tolist() for k, v in gr.items()}},
               "pictures": ["benchmarks/results/gan_theorem.png",
                            "benchmarks/results/gan_trick.png"]}
    update_results("gan", {}, "theory", details)
    print({k: v for k, v in details.items() if not isinstance(v, (dict, list))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
