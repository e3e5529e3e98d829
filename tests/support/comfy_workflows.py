"""UI-format workflow -> API format, the way ComfyUI's frontend (1.32) does it in ``app.graphToPrompt()``.

There is no server-side converter, so the tests carry an API twin of every shipped workflow and check here
that the twin is what the frontend would queue from the UI file. Widget values are matched to widgets using
the node definitions of the running ComfyUI (``INPUT_TYPES``), as the frontend matches them against
``/object_info``:
- widgets are the INT/FLOAT/STRING/BOOLEAN inputs (unless ``forceInput``) and the combo inputs, in
  INPUT_TYPES order (required, then optional); ``widgets_values`` holds one value per widget, positionally;
- an input with ``control_after_generate`` is followed by its control value ("fixed", "increment",
  "decrement", "randomize"), which is not sent; a combo with ``image_upload`` is followed by the upload
  button's value ("image"), which is not sent either;
- a widget whose input socket is linked sends the link ``[source id, output slot]`` instead of its value;
- frontend-only nodes (notes, reroutes, primitive widgets) are not sent.
"""

from __future__ import annotations

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}


class WorkflowError(AssertionError):
    pass


def widget_specs(node_class) -> list[tuple[str, tuple[str, ...]]]:
    """[(widget name, extra entries after its value)] in the order the frontend creates the widgets; an
    extra entry is "control" (control_after_generate) or "upload" (the image upload button)."""
    spec = node_class.INPUT_TYPES()
    out = []
    for section in ("required", "optional"):
        for name, entry in (spec.get(section) or {}).items():
            kind = entry[0]
            opts = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            is_combo = isinstance(kind, (list, tuple)) or kind == "COMBO"
            if not is_combo and (kind not in WIDGET_TYPES or opts.get("forceInput")):
                continue
            extras = ("control",) if opts.get("control_after_generate") else ()
            if is_combo and opts.get("image_upload"):
                extras += ("upload",)
            out.append((name, extras))
    return out


def ui_to_api(ui: dict, node_classes: dict) -> dict:
    links = {link[0]: link for link in ui["links"]}
    prompt = {}
    for node in ui["nodes"]:
        kind = node["type"]
        if kind in FRONTEND_ONLY:
            continue
        if node.get("mode", 0) != 0:
            raise WorkflowError(f"node {node['id']} ({kind}) is muted or bypassed; shipped workflows keep all on")
        if kind not in node_classes:
            raise WorkflowError(f"node {node['id']}: unknown node type {kind!r}")
        values = list(node.get("widgets_values") or [])
        specs = widget_specs(node_classes[kind])
        wanted = sum(1 + len(extras) for _, extras in specs)
        if len(values) != wanted:
            raise WorkflowError(f"node {node['id']} ({kind}): {len(values)} widgets_values for {wanted} widget "
                                f"slots {specs}")
        inputs, i = {}, 0
        for name, extras in specs:
            inputs[name] = values[i]
            for k, extra in enumerate(extras, 1):
                if extra == "control" and values[i + k] not in CONTROL_VALUES:
                    raise WorkflowError(f"node {node['id']} ({kind}): {values[i + k]!r} is not a "
                                        f"control_after_generate value for {name}")
            i += 1 + len(extras)
        for entry in node.get("inputs") or []:
            link_id = entry.get("link")
            if link_id is None:
                continue
            link = links.get(link_id)
            if link is None:
                raise WorkflowError(f"node {node['id']} ({kind}): input {entry['name']} names missing link {link_id}")
            _, src, src_slot, dst, _dst_slot, _type = link
            if dst != node["id"]:
                raise WorkflowError(f"link {link_id} ends at node {dst}, but node {node['id']} lists it")
            inputs[entry["name"]] = [str(src), src_slot]
        prompt[str(node["id"])] = {"class_type": kind, "inputs": inputs}
    return prompt


def check_ui_structure(ui: dict) -> list[str]:
    """Problems in a UI file that the frontend would silently repair or reject (empty list: none)."""
    problems = []
    for key in ("nodes", "links", "groups", "config", "extra", "last_node_id", "last_link_id", "version"):
        if key not in ui:
            problems.append(f"missing top-level key {key!r}")
    nodes = {n["id"]: n for n in ui.get("nodes", [])}
    if nodes and ui.get("last_node_id", 0) < max(nodes):
        problems.append("last_node_id is smaller than a node id")
    link_ids = [link[0] for link in ui.get("links", [])]
    if link_ids and ui.get("last_link_id", 0) < max(link_ids):
        problems.append("last_link_id is smaller than a link id")
    for link in ui.get("links", []):
        lid, src, src_slot, dst, dst_slot, typ = link
        if src not in nodes or dst not in nodes:
            problems.append(f"link {lid} joins a missing node")
            continue
        outs = nodes[src].get("outputs") or []
        ins = nodes[dst].get("inputs") or []
        if src_slot >= len(outs) or lid not in (outs[src_slot].get("links") or []):
            problems.append(f"link {lid}: output {src_slot} of node {src} does not list it")
        elif outs[src_slot]["type"] != typ:
            problems.append(f"link {lid}: type {typ} but output is {outs[src_slot]['type']}")
        if dst_slot >= len(ins) or ins[dst_slot].get("link") != lid:
            problems.append(f"link {lid}: input {dst_slot} of node {dst} does not hold it")
        elif ins[dst_slot]["type"] not in (typ, "*"):
            problems.append(f"link {lid}: type {typ} into input of type {ins[dst_slot]['type']}")
    for node in nodes.values():
        for key in ("id", "type", "pos", "size", "inputs", "outputs", "properties", "widgets_values"):
            if key not in node:
                problems.append(f"node {node.get('id')}: missing {key!r}")
    return problems
