"""The package-wide random generator used when no explicit np.random.Generator is given."""
import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the global generator used by default initialization, dropout and shuffling."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator():
    return _generator


def resolve(rng):
    """`rng` when given (a Generator or an int seed), else the global generator."""
    if rng is None:
        return _generator
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
