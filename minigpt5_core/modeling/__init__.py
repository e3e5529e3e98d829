"""The centre of the library: the MiniGPT-5 model and its parts.

    vision      ViT -> Q-Former -> projection: 32 LLM input embeddings per picture
    llm         LLaMA built from the config, and the peft adapters of the training stages
    mapper      voken features (8, H) -> SD conditioning (77, 1024), and the learned null
    consistency StoryDiffusion's consistent self-attention: a story's pictures share their looks
    diffusion   the Stable Diffusion side: sampling through diffusers, the LDM loss, caption features
    generation  KV-cached interleaved decoding and voken capture
    story       N pages, one picture each, as one result
    model       `MiniGPT5`, composing them
    pretrained  save_pretrained / from_pretrained

Nothing here imports the edges (training, conversion, datasets, evaluation, the toy world).
"""
