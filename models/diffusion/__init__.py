"""Joint diffusion over crystal fields: atom types, fractional coordinates, lattice and per-site descriptors.

One module per corruption process (``atom_types``, ``frac_coords``, ``lattice``, ``descriptors``), the
wrapped-normal maths they rely on (``wrapped_normal``), a padded-free flat batch layout (``batch``) and
the multi-field wrapper that trains and samples them together (``joint``).
"""
