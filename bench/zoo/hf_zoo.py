"""Small random-weight Hugging Face models (2 layers, width 128, 16 tokens) exported to ONNX, to try Saturn on
architectures the repo does not ship. Needs torch and transformers (the GPU machine has them).
    python3 bench/zoo/hf_zoo.py OUT_DIR"""
import os, sys, time, torch, transformers as T
torch.manual_seed(0)
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
class Last(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, *a): return s.m(*a).last_hidden_state
ids = torch.randint(0, 1000, (1, 16))
def ex(name, make, args, names=("input_ids",)):
    t = time.time()
    p = f"{out}/{name}.onnx"
    for dynamo in (False, True):
        try:
            m = Last(make()).eval()
            with torch.no_grad():
                if dynamo:
                    torch.onnx.export(m, args, p, dynamo=True, opset_version=18, input_names=list(names), output_names=["y"])
                else:
                    torch.onnx.export(m, args, p, opset_version=17, input_names=list(names), output_names=["y"])
            print(name, "ok", "dynamo" if dynamo else "ts", round(time.time() - t, 1), flush=True)
            return
        except Exception as e:
            print(name, "FAIL", "dynamo" if dynamo else "ts", repr(e)[:200], flush=True)
small = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256, vocab_size=1000)
ex("distilbert", lambda: T.DistilBertModel(T.DistilBertConfig(vocab_size=1000, dim=128, n_layers=2, n_heads=2, hidden_dim=256)), (ids,))
ex("roberta", lambda: T.RobertaModel(T.RobertaConfig(**small, max_position_embeddings=64)), (ids,))
ex("albert", lambda: T.AlbertModel(T.AlbertConfig(**small, embedding_size=64)), (ids,))
ex("electra", lambda: T.ElectraModel(T.ElectraConfig(**small, embedding_size=64)), (ids,))
ex("deberta_v2", lambda: T.DebertaV2Model(T.DebertaV2Config(**small)), (ids,))
ex("t5_encoder", lambda: T.T5EncoderModel(T.T5Config(vocab_size=1000, d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4)), (ids,))
ex("bart_encoder", lambda: T.BartModel(T.BartConfig(vocab_size=1000, d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=256, decoder_ffn_dim=256, max_position_embeddings=64)).get_encoder(), (ids,))
ex("whisper_encoder", lambda: T.WhisperModel(T.WhisperConfig(d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=256, decoder_ffn_dim=256, num_mel_bins=80, max_source_positions=64, vocab_size=1000, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)).get_encoder(), (torch.randn(1, 80, 128),), names=("input_features",))
ex("clip_vision", lambda: T.CLIPVisionModel(T.CLIPVisionConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256, image_size=32, patch_size=8)), (torch.randn(1, 3, 32, 32),), names=("pixel_values",))
ex("clip_text", lambda: T.CLIPTextModel(T.CLIPTextConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256, vocab_size=1000, max_position_embeddings=64)), (ids,))
ex("wav2vec2", lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256, conv_dim=(32, 32, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)), (torch.randn(1, 4000),), names=("input_values",))
ex("gpt_neo", lambda: T.GPTNeoModel(T.GPTNeoConfig(vocab_size=1000, hidden_size=128, num_layers=2, attention_types=[[["global", "local"], 1]], num_heads=2, max_position_embeddings=64, window_size=8)), (ids,))
ex("opt", lambda: T.OPTModel(T.OPTConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, ffn_dim=256, max_position_embeddings=64, word_embed_proj_dim=128)), (ids,))
ex("bloom", lambda: T.BloomModel(T.BloomConfig(vocab_size=1000, hidden_size=128, n_layer=2, n_head=2)), (ids,))
ex("mistral", lambda: T.MistralModel(T.MistralConfig(**small, num_key_value_heads=1, max_position_embeddings=64, sliding_window=8)), (ids,))
ex("qwen2", lambda: T.Qwen2Model(T.Qwen2Config(**small, num_key_value_heads=1, max_position_embeddings=64)), (ids,))
ex("phi", lambda: T.PhiModel(T.PhiConfig(**small, max_position_embeddings=64)), (ids,))
ex("mobilevit", lambda: T.MobileViTModel(T.MobileViTConfig(image_size=64)), (torch.randn(1, 3, 64, 64),), names=("pixel_values",))
ex("segformer", lambda: T.SegformerModel(T.SegformerConfig()), (torch.randn(1, 3, 64, 64),), names=("pixel_values",))
ex("convnext_hf", lambda: T.ConvNextModel(T.ConvNextConfig(depths=[1, 1, 1, 1], hidden_sizes=[32, 64, 128, 256])), (torch.randn(1, 3, 64, 64),), names=("pixel_values",))
