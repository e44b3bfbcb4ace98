"""How this directory was made (not run by the tests; needs torch and transformers, which the
project does not depend on):

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 transformers==5.24.0
    /tmp/ref/bin/python tests/data/tiny_bert/make_reference.py

A randomly initialised 2-layer BERT (hidden size 32) over the 400 commonest characters of
rules/reviews.txt plus a few ASCII word pieces, saved by transformers in both weight formats,
and reference.json: what transformers' tokenizers (fast and slow agree) and BertModel give for
some texts, which tests/test_encoder.py compares `sentiment.model.encoder` against.
"""
import collections
import json
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer, BertTokenizerFast

out = Path(__file__).resolve().parent
reviews = (out.parents[2] / "rules" / "reviews.txt").read_text(encoding="utf-8")
counts = collections.Counter(ch for ch in reviews if "\u4e00" <= ch <= "\u9fff")
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("0123456789,.!?:;()~，。！？、") + \
    ["good", "ok", "iphone", "##s", "##e", "a", "b", "c", "e", "u", "ca", "##fe", "caf", "h", "o", "##a", "##c"] + \
    [c for c, _ in counts.most_common(400)]
vocab = list(dict.fromkeys(vocab))
(out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
slow = BertTokenizer(str(out / "vocab.txt"), do_lower_case=True)
fast = BertTokenizerFast(str(out / "vocab.txt"), do_lower_case=True)
torch.manual_seed(7)
config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=64)
model = BertModel(config).eval()
with torch.no_grad():  # spread the weights so that layer norms and GELU are exercised
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.05)
model.save_pretrained(out, safe_serialization=True)
torch.save(model.state_dict(), out / "pytorch_model.bin")
fast.backend_tokenizer.save(str(out / "tokenizer.json"))
texts = ["质量很好，物流也快", "不好用！！！差评", "iPhone 壳子 OK 的", "GOOD goods cafe CAFÉ", "好吃😀👍 送得快",
         "ab\tc\u200b d\x00e", "", "一" * 100, "拉肚子了(ToT)", "客服态度：一般般。"]
ref = {"texts": texts, "max_tokens": 40, "ids": [], "embeddings": []}
with torch.no_grad():
    for t in texts:
        ids = fast(t, truncation=True, max_length=40)["input_ids"]
        assert ids == slow(t, truncation=True, max_length=40)["input_ids"]
        ref["ids"].append(ids)
        x = torch.tensor([ids])
        h = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0]
        ref["embeddings"].append([round(float(v), 7) for v in h.mean(0)])
(out / "reference.json").write_text(json.dumps(ref, ensure_ascii=False, indent=0), encoding="utf-8")
