"""What a Tensor does, installed on it by the package face from tables: operators and indexing
(`operators`), in-place updates (`inplace`), PyTorch's methods and functions (`torch_methods`,
`torch_keywords`, `torch_functions`, `pytorch_face`, `torch_backends`)."""
