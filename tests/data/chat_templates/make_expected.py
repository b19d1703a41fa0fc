#!/usr/bin/env python3
"""Writes expected.json: every template here rendered with every conversation of
conversations.json by jinja2, set up as transformers' apply_chat_template sets it up
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson and
raise_exception). Also renders the inline templates of llama.cpp's tests/test-chat-template.cpp
(given as the path argument), saved in inline_templates.json; and the small templates of
constructs.json, one Jinja feature each, into expected_constructs.json. Needs python3-jinja2
(3.1)."""
import ast
import json
import os
import re
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def render(env, source, conversation):
    try:
        template = env.from_string(source)
        return {"output": template.render(**conversation)}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}
    except (TypeError, ValueError) as e:  # A template that cannot run on these inputs at all.
        return {"error": f"{type(e).__name__}: {e}"}


def inline_templates(path):
    text = open(path, encoding="utf-8").read()
    names = re.findall(r'/\* \.name= \*/\s*("(?:[^"\\]|\\.)*")', text)
    sources = re.findall(r'/\* \.template_str= \*/\s*(?:u8)?("(?:[^"\\]|\\.)*")', text)
    assert len(names) == len(sources), (len(names), len(sources))
    return {ast.literal_eval(n): ast.literal_eval(s) for n, s in zip(names, sources)}


def main():
    env = environment()
    conversations = json.load(open(os.path.join(HERE, "conversations.json"), encoding="utf-8"))
    templates = {}
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".jinja"):
            templates[name] = open(os.path.join(HERE, name), encoding="utf-8").read()
    if len(sys.argv) > 1:
        inline = inline_templates(sys.argv[1])
        with open(os.path.join(HERE, "inline_templates.json"), "w", encoding="utf-8") as f:
            json.dump(inline, f, ensure_ascii=False, indent=1)
    inline = json.load(open(os.path.join(HERE, "inline_templates.json"), encoding="utf-8"))
    templates.update(inline)
    expected = {}
    for template_name, source in templates.items():
        expected[template_name] = {
            conversation_name: render(env, source, conversation)
            for conversation_name, conversation in conversations.items()
        }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
    constructs = json.load(open(os.path.join(HERE, "constructs.json"), encoding="utf-8"))
    for case in constructs:
        case.update(render(env, case["template"], case["vars"]))
    with open(os.path.join(HERE, "expected_constructs.json"), "w", encoding="utf-8") as f:
        json.dump(constructs, f, ensure_ascii=False, indent=1)
    errors = sum("error" in r for t in expected.values() for r in t.values())
    print(f"{len(templates)} templates x {len(conversations)} conversations, {errors} refusals")


if __name__ == "__main__":
    main()
