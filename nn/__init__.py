"""nn: neural networks built from autodiff ops."""
