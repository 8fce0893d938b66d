"""Backward elimination of the fusion's branches on validation merit (issue 13: a fusion that never loses to a
subset of itself on the evidence it is chosen by)."""

from __future__ import annotations

from trainer.fit.recipe import backward_elimination

ALL = ("feature", "deviation", "reconstruction", "missing")


def merit_table(table: dict[frozenset[str], float]) -> object:
    calls: list[tuple[str, ...]] = []

    def merit(branches: tuple[str, ...]) -> float | None:
        calls.append(branches)
        return table.get(frozenset(branches))

    merit.calls = calls  # type: ignore[attr-defined]
    return merit


def test_a_branch_whose_absence_raises_the_merit_is_left_out() -> None:
    merit = merit_table({frozenset(ALL): 0.92, frozenset(ALL) - {"reconstruction"}: 0.95,
                         frozenset({"feature", "deviation"}): 0.90, frozenset({"feature", "missing"}): 0.70,
                         frozenset({"deviation", "missing"}): 0.93})
    kept, dropped = backward_elimination(ALL, merit)
    assert kept == ("feature", "deviation", "missing")
    assert len(dropped) == 1 and dropped[0].startswith("reconstruction: validation merit 0.9500 without it, 0.9200")


def test_every_branch_that_helps_is_kept() -> None:
    merit = merit_table({frozenset(ALL): 0.95, **{frozenset(ALL) - {b}: 0.90 for b in ALL}})
    assert backward_elimination(ALL, merit) == (ALL, [])


def test_a_tie_keeps_the_branch_a_strict_gain_leaves_it_out() -> None:
    """A branch silent on every validation scan (no validation defect removes material) scores a tie: it stays."""
    pair = ("deviation", "missing")
    assert backward_elimination(pair, merit_table({frozenset(pair): 0.95, frozenset({"deviation"}): 0.95}))[0] == pair
    assert backward_elimination(pair, merit_table({frozenset(pair): 0.95, frozenset({"deviation"}): 0.951}))[0] == (
        "deviation",)


def test_elimination_continues_while_it_keeps_the_merit_and_never_empties_the_set() -> None:
    merit = merit_table({frozenset(ALL): 0.90, frozenset({"feature", "deviation", "missing"}): 0.91,
                         frozenset({"deviation", "missing"}): 0.92, frozenset({"deviation"}): 0.93})
    kept, dropped = backward_elimination(ALL, merit)
    assert kept == ("deviation",) and [d.split(":")[0] for d in dropped] == ["reconstruction", "feature", "missing"]


def test_a_subset_that_cannot_be_fitted_is_never_chosen() -> None:
    merit = merit_table({frozenset(ALL): 0.90})
    assert backward_elimination(ALL, merit) == (ALL, [])


def fitted(object_auroc: float, point_auroc: float, method: str) -> object:
    from types import SimpleNamespace

    from trainer.fit.recipe import FusionVariant

    fit = SimpleNamespace(object_auroc=object_auroc, point_auroc=point_auroc)
    return FusionVariant(fusion=method, calibration=None, fit=fit, normal_scores=[], choice={"method": method})


def choose_with(monkeypatch, everything: object, pruned: object) -> object:
    import trainer.fit.recipe as recipe

    monkeypatch.setattr(recipe, "_best_method", lambda fit, branches, o: everything if branches is None else pruned)
    monkeypatch.setattr(recipe, "_prune_branches", lambda fit, active: (("feature", "deviation"), ["reconstruction: ..."]))
    return recipe._choose([], [], None, recipe.TrainOptions())


def test_the_pruned_fusion_is_kept_when_every_branch_does_not_beat_it_beyond_the_tolerance(monkeypatch) -> None:
    chosen = choose_with(monkeypatch, fitted(0.95, 0.90, "all"), fitted(0.95, 0.899, "pruned"))
    assert chosen.fusion == "pruned" and chosen.choice["branches_left_out"] == ["reconstruction: ..."]


def test_every_branch_is_kept_when_its_fusion_scores_better_on_validation(monkeypatch) -> None:
    chosen = choose_with(monkeypatch, fitted(0.95, 0.91, "all"), fitted(0.95, 0.90, "pruned"))
    assert chosen.fusion == "all" and "every branch kept" in chosen.choice["pruning"]


def test_the_train_summary_names_the_fusion_and_the_branches_left_out_on_validation() -> None:
    from types import SimpleNamespace

    from trainer.cli.train import fusion_summary

    fusion = SimpleNamespace(method="sum", branches=("feature", "deviation", "missing"))
    trained = SimpleNamespace(model=SimpleNamespace(fusion=fusion), fusion_choice={
        "branches_left_out": ["reconstruction: validation merit 0.9352 without it, 0.9209 with it"]})
    assert fusion_summary(trained) == ("scaled sum of feature, deviation, missing "
                                       "(reconstruction left out on validation)")
    trained.model.fusion = SimpleNamespace(method="ocsvm", branches=ALL)
    trained.fusion_choice = {}
    assert fusion_summary(trained) == "One-Class SVM of feature, deviation, reconstruction, missing"


def test_each_branch_set_and_method_is_fitted_once_and_none_means_the_active_branches(monkeypatch) -> None:
    import trainer.fit.recipe as recipe
    from trainer.fit.recipe import FusionSpec

    calls = []
    monkeypatch.setattr(recipe, "_fit_method", lambda a, f, spec, o: calls.append(spec) or len(calls))
    fit = recipe._fit_once([], [], recipe.TrainOptions(), ALL)
    assert fit(FusionSpec(None, "sum")) == fit(FusionSpec(ALL, "sum")) == 1
    assert fit(FusionSpec(("deviation",), "sum")) == 2 and fit(FusionSpec(None, "ocsvm")) == 3
    assert len(calls) == 3
