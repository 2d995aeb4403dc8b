"""The data-parallel sharding rule (``conformance.distributed.sharding``) against torch's own
``DistributedSampler``, and its refusals. No processes are started: this runs in the README's
command; the runs themselves are in ``test_data_parallel.py`` (marked ``distributed``)."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import DistributedSampler

from conformance.distributed import sharding


@pytest.mark.parametrize("n,ranks", [(4, 2), (5, 2), (7, 3), (2, 5), (1, 4), (100, 8)])
@pytest.mark.parametrize("epoch", [1, 2])
def test_sampler_rule_is_distributed_samplers(n, ranks, epoch):
    order = sharding.epoch_order(n, seed=3, epoch=epoch)
    for rank in range(ranks):
        # DistributedSampler over the epoch's order, unshuffled: the positions it picks, as rows
        picked = list(DistributedSampler(list(range(n)), num_replicas=ranks, rank=rank, shuffle=False))
        assert sharding.shard(order, ranks, rank, "sampler").tolist() == order[picked].tolist()


def test_orders_depend_on_seed_and_epoch_only():
    a = [sharding.epoch_order(10, 0, e) for e in (1, 2, 3)]
    assert sharding.epoch_order(10, 0, 2).tolist() == a[1].tolist()  # no running generator: as set_epoch
    assert a[0].tolist() != a[1].tolist()
    assert sharding.epoch_order(10, 1, 1).tolist() != a[0].tolist()


def test_contiguous_rule_is_uneven_blocks():
    order = np.arange(7)
    assert [sharding.shard(order, 3, r, "contiguous").tolist() for r in range(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert sharding.plan(7, 3, None, "contiguous") == {"sizes": [3, 2, 2], "steps_per_epoch": 1, "uneven": True,
                                                       "padded": 0}
    assert sharding.plan(7, 3, None, "sampler")["padded"] == 2


@pytest.mark.parametrize("n,ranks,batch,rule,flag", [
    (3, 4, None, "sampler", "--ranks 4"),
    (9, 2, 4, "contiguous", "--shard contiguous with --batch-size 4"),
    (9, 2, None, "blocks", "--shard"),
])
def test_plan_refuses_in_one_line(n, ranks, batch, rule, flag):
    with pytest.raises(sharding.ShardError) as e:
        sharding.plan(n, ranks, batch, rule)
    assert str(e.value).startswith(flag) and "\n" not in str(e.value)


def test_launch_ports_are_chosen_below_the_ephemeral_range_and_given_to_torchrun():
    from conformance.distributed import launch

    lo, _ = launch.ephemeral_range()
    assert launch.free_ports(2) + 1 < lo
    cmd = launch.command("torch", 2, "gloo", "/nonexistent")
    assert "--standalone" not in cmd and cmd[cmd.index("--master-addr") + 1] == "127.0.0.1"
    assert int(cmd[cmd.index("--master-port") + 1]) < lo
    assert launch.port_taken("DistNetworkError: The server socket has failed to listen on any local network address. "
                             "port: 29882, useIpv6: false, code: -98, name: EADDRINUSE, message: address already in use")
    assert not launch.port_taken("RuntimeError: seeded failure in rank 1")
