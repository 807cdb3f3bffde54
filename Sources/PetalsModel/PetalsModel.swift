/// PetalsModel: transformer architectures, the shard forward pass, tokenizer and sampling.
public enum PetalsModel {}
