"""The parity suite: one regularized MLP trained in JAX, TensorFlow/Keras and PyTorch.

``python -m parity --help``. Nothing here is imported by `jaxreg`.
"""
