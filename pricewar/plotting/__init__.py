"""Figure style shared by every figure of the package: :mod:`~pricewar.plotting.style` (region
colours, labelled axes, source notes) and :mod:`~pricewar.plotting.ticks` (tick labels a policy
reader can read)."""
