"""The trading toolbox's evaluate_batch gives every tree what evaluate gives it, and runs are unchanged by it."""

import random

import pytest

from hpcevo import api
from hpcevo.errors import Rejected
from hpcevo.trading import kernels
from hpcevo.trading.language import to_expression
from hpcevo.trading.problem import trading


def outcome(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - compared as type and message
        return exc


def same(a, b):
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return a == b


def forget(tb):
    tb.context.memo.clear()
    tb.context.trees.clear()


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_a_batch_gives_each_tree_its_own_evaluation(monkeypatch, seed, jit):
    monkeypatch.setattr(kernels, "AVAILABLE", jit and kernels.AVAILABLE)
    tb = trading(folds=3, objectives="sharpe,information_ratio,size" if seed == 2 else "default")
    random.seed(seed)
    trees = tb.population(60)
    trees += [tb.clone(t) for t in trees[:10]]  # the same trees again in one batch
    random.shuffle(trees)
    one_by_one = []
    for tree in trees:
        forget(tb)  # each evaluated from nothing
        one_by_one.append(outcome(lambda: tb.evaluate(tree)))
    forget(tb)
    batch = tb.evaluate_batch(trees)
    assert len(batch) == len(trees)
    for tree, a, b in zip(trees, one_by_one, batch):
        assert same(a, b), (to_expression(tree), a, b)
    assert any(isinstance(b, Rejected) for b in batch) and any(isinstance(b, tuple) for b in batch)
    again = tb.evaluate_batch(trees)  # now every answer comes from the memos
    assert all(same(a, b) for a, b in zip(batch, again))


def test_a_tree_that_fails_costs_the_others_nothing():
    tb = trading(folds=3)
    random.seed(5)
    trees = tb.population(8)
    broken = tb.clone(trees[0])
    del broken[1:]  # a node list that is no strategy tree
    forget(tb)
    batch = tb.evaluate_batch([trees[1], broken, trees[2]])
    forget(tb)
    assert isinstance(batch[1], ValueError) and "not a" in str(batch[1])
    assert same(batch[0], outcome(lambda: tb.evaluate(trees[1])))
    forget(tb)
    assert same(batch[2], outcome(lambda: tb.evaluate(trees[2])))


def test_a_run_is_the_same_with_and_without_the_batch_path():
    settings = {"islands": 2, "population": 24, "generations": 4, "migration_interval": 2, "seed": 3,
                "progress": False}
    with_batch = api.evolve(trading(folds=2), **settings)
    tb = trading(folds=2)
    del tb.evaluate_batch
    without = api.evolve(tb, **settings)
    assert with_batch.logbook.equals(without.logbook)
    assert [to_expression(i) for i in with_batch.hall_of_fame] == [to_expression(i) for i in without.hall_of_fame]
    assert [i.fitness.values for i in with_batch.hall_of_fame] == [i.fitness.values for i in without.hall_of_fame]


@pytest.mark.parametrize("data, long_short, seed", [("sp500", False, 0), ("sp500+nasdaq", True, 1),
                                                    ("sp500+nasdaq", False, 2)])
def test_the_search_computes_no_bar_after_the_training_folds(data, long_short, seed):
    """search_signals stop at each market's last training bar and equal the whole series' signals there, bit for
    bit (the indicators are causal); the fitness is what a backtest of the whole signals gives."""
    from hpcevo.trading.problem import _backtest, signal_key

    tb = trading(data=data, folds=3, long_short=long_short)
    ctx = tb.context
    random.seed(seed)
    trees = tb.population(150)
    ends = [p.training[-1][1] for p in ctx.calendar.markets]
    assert all(m.n_bars > end for m, end in zip(ctx.markets, ends))  # there is something left out
    for tree in trees:
        whole = outcome(lambda: ctx.signals(tree))
        searched = outcome(lambda: ctx.search_signals(tree))
        if isinstance(whole, Exception):
            assert same(whole, searched)
            continue
        for w, s, end in zip(whole, searched, ends):
            assert s.shape == (end,) and s.tobytes() == w[:end].tobytes(), to_expression(tree)
        forget(tb)
        assert same(outcome(lambda: tb.evaluate(tree)),
                    outcome(lambda: _fitness_of(_backtest(whole, ctx), tree, ctx)))
        assert signal_key(searched, long_short) == signal_key([w[:end] for w, end in zip(whole, ends)],
                                                              long_short)


def _fitness_of(hit, tree, ctx):
    from hpcevo.trading.problem import _fitness

    return _fitness(hit, tree, ctx, raise_rejected=True)
