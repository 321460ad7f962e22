"""``landcover train``, ``evaluate``, ``teach`` and ``models list``: models and their figures."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..clouds import METHODS as CLOUD_METHODS
from ..faults import durable_replace
from .common import main, setup_logging


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "output", help="Bundle to write (overrides the recipe's output).")
@click.option("--steps", type=int, help="Training steps (overrides the recipe).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Shared data folder (default: $LANDCOVER_DATA, else ../shared/data).")
@click.option("-v", "--verbose", count=True)
def train(recipe: Path, output, steps, data_root, verbose) -> None:
    """Train a model from a RECIPE (workflows/train.yaml) and write its bundle.

    Distils the Dynamic World teacher on the real scenes the recipe names (seeded,
    split by scene); see docs/MODEL_CARD.md.
    """
    from ..errors import ConfigError
    from ..training.train import train_from_config

    setup_logging(max(verbose, 1))
    if not recipe.is_file():
        raise ConfigError(f"recipe {recipe} does not exist; give a YAML recipe such as "
                          "workflows/train.yaml")
    over = {k: v for k, v in {"output": output, "steps": steps,
                              "data_root": data_root and str(data_root)}.items() if v is not None}
    path = train_from_config(recipe, progress=True, **over)
    click.echo(f"wrote {path}")


@main.command()
@click.option("--model", help="Model bundle; default: the shipped one.")
@click.option("--scene", "scenes", multiple=True, type=click.Path(path_type=Path),
              help="Scene file(s) of one date, or a folder (repeat for several files).")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path),
              help="Reference label raster (its grid is the evaluation grid).")
@click.option("--label-map", help="Label codes to legend classes, e.g. '1:water,0:other', or a "
              "YAML file of code: class.")
@click.option("--against-teacher", is_flag=True,
              help="Agreement with the Dynamic World teacher on the held-out cities instead.")
@click.option("--card", is_flag=True,
              help="Every accuracy figure of the model card (teacher agreement and OSCD built "
              "change on the held-out cities, Sen1Floods11 water IoU, who is right where "
              "the model and the teacher disagree on real labels, and the L2A consistent "
              "share on the BigEarthNet patches), from the shared data.")
@click.option("--clouds", type=click.Choice(list(CLOUD_METHODS)), default="s2cloudless",
              show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report here.")
@click.option("--tta", is_flag=True, help="Test-time augmentation: flips and quarter turns, "
              "probabilities averaged (8x the model's time).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Shared data folder, for --against-teacher and --card (default: "
              "$LANDCOVER_DATA, else ../shared/data).")
def evaluate(model, scenes, labels, label_map, against_teacher, card, clouds, json_out, tta,
             data_root) -> None:
    """Assess a model: against reference labels, against the teacher, or all the card's figures.

    \b
    landcover evaluate --scene S2Hand.tif --labels LabelHand.tif --label-map '1:water,0:other'
    landcover evaluate --against-teacher
    landcover evaluate --card --json figures.json
    """
    import tempfile

    import yaml

    from ..errors import ConfigError, SceneNotFoundError
    from ..plan import resolve_model_path

    model_path = resolve_model_path(model)
    if card:
        if tta:
            raise ConfigError("--card gives the figures of the card, measured without --tta; "
                              "drop --tta")
        from ..model import load_bundle
        from ..training.evaluate import card_figures

        m = load_bundle(model_path)
        report = {"model": f"{m.spec.name} {m.spec.version}",
                  **card_figures(m, data_root=data_root)}
    elif against_teacher:
        from ..model import load_bundle
        from ..training.data import oscd_scenes
        from ..training.evaluate import agreement_with_teacher, held_out_oscd_cities

        m = load_bundle(model_path)
        cities = held_out_oscd_cities(m)
        report = agreement_with_teacher(m, oscd_scenes(cities, data_root=data_root), tta=tta)
        report["cities"] = cities
    else:
        if not scenes or not labels or not label_map:
            raise ConfigError("give --scene, --labels and --label-map (or --against-teacher)")
        for p in (*scenes, labels):
            if not Path(p).exists():
                raise SceneNotFoundError(f"{p} does not exist; check the path")
        mapping = label_map
        if Path(label_map).suffix in (".yaml", ".yml") and Path(label_map).is_file():
            mapping = yaml.safe_load(Path(label_map).read_text())
        from ..training.evaluate import evaluate_on_labels

        with tempfile.TemporaryDirectory() as tmp:
            report = evaluate_on_labels(model_path, scenes, labels, mapping,
                                        Path(tmp) / "map.tif", clouds=clouds, tta=tta)
            report["map"] = "(temporary)"
    report["tta"] = tta
    text = json.dumps(report, indent=2, default=float)
    if json_out:
        tmp_path = json_out.with_name(f".{json_out.name}.part")
        tmp_path.write_text(text + "\n")
        durable_replace(tmp_path, json_out)
    click.echo(text)


@main.command()
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <name>_dw_prob_u8.tif and <name>_dw_class.tif.")
@click.option("--overwrite", is_flag=True)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Shared data folder, for the teacher's ONNX file (default: "
              "$LANDCOVER_DATA, else ../shared/data).")
def teach(scenes, out_dir, overwrite, data_root) -> None:
    """Run the Dynamic World teacher (ONNX) on SCENES: soft labels for training."""
    from ..errors import SceneNotFoundError
    from ..teacher import teach as run_teach

    for p in scenes:
        if not Path(p).exists():
            raise SceneNotFoundError(f"scene {p} does not exist; check the path")
    for prob, cls in run_teach(scenes, out_dir, overwrite=overwrite, data_root=data_root):
        click.echo(f"wrote {prob} and {cls}")


# ---- monitor ----
# Scheduled, incremental monitoring (landcover.monitor; docs/monitoring.md).
# Exit codes: 0 ok (also "no new scenes"), 1 failed run, 2 bad input, 3 locked.




@main.group("models")
def models_group() -> None:
    """Model bundles on this machine and released ones (docs/MODELS.md)."""


@models_group.command("list")
@click.option("--no-verify", is_flag=True, help="Do not hash the weights (faster).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def models_list(no_verify: bool, as_json: bool) -> None:
    """Bundles found ($LANDCOVER_MODELS, then data/model) with their weights' sha256
    checked, and the registry's releases that are not here with where to get them.

    \b
    landcover models list
    LANDCOVER_MODELS=~/models landcover --model landcover-default@1.0.0 ...
    """
    from ..model_store import find_bundles, model_dirs, read_registry

    found = find_bundles(verify=not no_verify)
    here = {(b.name, b.version, b.weights_sha256) for b in found}
    released = read_registry()
    missing = [e for e in released if (e.name, e.version, e.weights_sha256) not in here]
    status = {None: "not checked", True: "ok", False: "MISMATCH"}
    if as_json:
        doc = {
            "search": [str(d) for d in model_dirs()],
            "bundles": [{"ref": b.ref, "weights_sha256": b.weights_sha256,
                         "verified": b.verified, "size_bytes": b.size_bytes,
                         "sidecar": str(b.sidecar)} for b in found],
            "not_here": [{"ref": e.ref, "weights_sha256": e.weights_sha256,
                          "source": e.source} for e in missing],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo("searched: " + ", ".join(str(d) for d in model_dirs()))
    for b in found:
        click.echo(f"{b.ref:28} sha256 {b.weights_sha256[:16]}  {status[b.verified]:11} "
                   f"{b.size_bytes / 1e6:6.1f} MB  {b.sidecar}")
    for e in missing:
        click.echo(f"{e.ref:28} sha256 {e.weights_sha256[:16]}  not here: {e.source}")
    if not found:
        click.echo("no bundle found")
