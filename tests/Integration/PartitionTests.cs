using System.Diagnostics;
using System.Runtime.Versioning;
using Shoal.Bench;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.Integration.Tests;

/// <summary>
/// Network partitions of swarms of real <c>shoal agent</c> processes, each node in its own network namespace on a
/// test bridge (<see cref="NetnsHosts"/>): a leader cut from the other managers, a worker cut off, and packets lost in
/// one direction only. Faults are link down and iptables DROP (packets lost, not refused). Heartbeats are 1 s. The
/// tests need root (namespaces, veths, iptables) and say so when skipped; CI runs them as root. Namespaces, the
/// bridge, iptables rules, agents and task processes are removed in teardown whatever happens.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class PartitionTests : LocalSwarmTests
{
    private readonly List<NetnsHosts> _hosts = [];

    [Fact]
    public async Task LeaderCutFromTheOtherManagers_RefusesWrites_MajorityElectsAndAccepts_AfterHealingAllConvergeWithNoAcknowledgedWriteLost()
    {
        var swarm = await StartInHostsAsync(managers: 3, workers: 1);
        var old = await swarm.WaitForLeaderAsync(Deadline, cancellationToken: Cancellation);
        var majority = swarm.Nodes.Where(n => n.Name.StartsWith('m') && n != old).ToList();
        var hosts = _hosts[^1];
        var acknowledged = new List<string>();
        acknowledged.Add(await old.Api.CreateServiceAsync(Sleeper("before", 1), Cancellation));
        await WaitForRunningAsync(swarm, old, acknowledged[0], 1, "the task of before running");

        // The old leader loses both other managers; the worker still reaches every manager.
        var cut = Stopwatch.GetTimestamp();
        foreach (var other in majority)
        {
            await hosts.CutAsync(old.Host!, other.Host!, Cancellation);
        }

        // A write through the old leader is not acknowledged: it fails with an error or does not answer at all.
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(Cancellation))
        {
            limit.CancelAfter(TimeSpan.FromSeconds(15));
            var started = Stopwatch.GetTimestamp();
            var refusal = await Record.ExceptionAsync(() => old.Api.CreateServiceAsync(Sleeper("minority", 1), limit.Token));
            Output?.WriteLine($"write through the cut-off old leader {old.Name}: {(refusal is null ? "ACKNOWLEDGED" : $"{refusal.GetType().Name}: {refusal.Message}")} after {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
            Assert.NotNull(refusal);
            Assert.True(refusal is SwarmApiException or OperationCanceledException or HttpRequestException or IOException, $"unexpected failure: {refusal}");
        }

        // The majority elects one of its own and accepts writes.
        var leader = await WaitForSelfLeaderAsync(swarm, majority, "a leader among " + string.Join(", ", majority.Select(m => m.Name)));
        Output?.WriteLine($"{leader.Name} leads the majority {Stopwatch.GetElapsedTime(cut).TotalMilliseconds:0} ms after the cut");
        acknowledged.Add(await leader.Api.CreateServiceAsync(Sleeper("during", 1), Cancellation));
        await leader.Api.ScaleServiceAsync(acknowledged[0], 2, Cancellation);

        // The old leader, alone, stops claiming leadership (it cannot reach a quorum).
        var stepDown = Stopwatch.GetTimestamp();
        await swarm.WaitForAsync(
            async ct => !await ClaimsLeadershipAsync(old, ct),
            $"{old.Name} to stop claiming leadership while cut from the other managers",
            Deadline,
            TimeSpan.FromMilliseconds(200),
            cancellationToken: Cancellation);
        Output?.WriteLine($"{old.Name} no longer claims to lead {Stopwatch.GetElapsedTime(stepDown).TotalMilliseconds:0} ms after the majority's leader was seen");

        // Heal: the old leader follows the new one and every manager serves the same services at the same versions.
        await hosts.HealAsync(Cancellation);
        var healed = Stopwatch.GetTimestamp();
        acknowledged.Add(await leader.Api.CreateServiceAsync(Sleeper("after", 1), Cancellation));
        var managers = swarm.Nodes.Where(n => n.Name.StartsWith('m')).ToList();
        string last = string.Empty;
        await swarm.WaitForAsync(
            async ct =>
            {
                var views = new List<string>();
                foreach (var manager in managers)
                {
                    views.Add(await ServicesViewAsync(manager, ct) ?? $"{manager.Name}: no answer");
                }

                last = string.Join(" | ", managers.Zip(views, (m, v) => $"{m.Name}: {v}"));
                return views.Distinct(StringComparer.Ordinal).Count() == 1 && acknowledged.All(id => views[0].Contains(id, StringComparison.Ordinal));
            },
            "every manager to serve the same services at the same versions, with every acknowledged write",
            Deadline,
            TimeSpan.FromMilliseconds(200),
            () => "last seen: " + last,
            Cancellation);
        Output?.WriteLine($"managers converged {Stopwatch.GetElapsedTime(healed).TotalMilliseconds:0} ms after the heal: {last}");
        await WaitForSelfLeaderAsync(swarm, [leader], $"{leader.Name} still leading after the heal");
        Assert.False(await ClaimsLeadershipAsync(old, Cancellation), $"{old.Name} claims to lead after the heal");
        await swarm.WaitForAsync(
            async ct => (await old.Api.NodesAsync(ct)).SingleOrDefault(n => n.ManagerStatus?.Leader == true)?.ID == leader.NodeId,
            $"{old.Name}'s own node list to name {leader.Name} leader",
            Deadline,
            TimeSpan.FromMilliseconds(200),
            cancellationToken: Cancellation);
        var nodes = await swarm.WaitForNodesAsync(
            list => list.Count == 4 && list.All(n => n.Status.State == NodeStates.Ready)
                && list.Count(n => n.ManagerStatus?.Reachability == Reachabilities.Reachable) == 3
                && list.Single(n => n.ManagerStatus?.Leader == true).ID == leader.NodeId,
            $"4 nodes READY, 3 reachable managers, {leader.Name} leading",
            Deadline,
            Cancellation);
        Output?.WriteLine("after the heal: " + swarm.Describe(nodes));

        // What the old leader serves itself: the acknowledged writes, the scale done without it, no unacknowledged one.
        var services = await old.Api.ServicesAsync(Cancellation);
        Assert.Equal(acknowledged.Order(StringComparer.Ordinal), services.Select(s => s.ID).Order(StringComparer.Ordinal));
        Assert.Equal(2UL, services.Single(s => s.ID == acknowledged[0]).Spec.Mode.Replicated!.Replicas);
        Assert.DoesNotContain(services, s => s.Spec.Name == "minority");
    }

    [Fact]
    public async Task WorkerCutOff_GoesDown_ItsTasksMoveToTheOtherWorker_AfterHealingItsOldTasksEnd_NoSlotRunsTwice()
    {
        var swarm = await StartInHostsAsync(managers: 1, workers: 2);
        var hosts = _hosts[^1];
        var (manager, w1, w2) = (swarm["m1"], swarm["w1"], swarm["w2"]);
        await DrainAsync(manager);
        var id = await manager.Api.CreateServiceAsync(Sleeper("cut", 4), Cancellation);
        var running = await WaitForRunningAsync(swarm, manager, id, 4, "4 tasks of cut running on the workers");
        Assert.All(running, t => Assert.NotEqual(manager.NodeId, t.NodeID));
        var lost = running.Where(t => t.NodeID == w2.NodeId).ToList();
        Assert.NotEmpty(lost);
        var lostProcesses = TaskProcesses.Of(swarm, lost);
        Assert.Equal(lost.Count, lostProcesses.Count);

        var cut = Stopwatch.GetTimestamp();
        await hosts.IsolateAsync(w2.Host!, Cancellation);
        await ExpectDownAndReplacedAsync(swarm, manager, w2, id, lost, cut);

        // Cut off, the worker keeps its tasks' processes running (it cannot know they were replaced).
        Assert.All(lostProcesses, p => Assert.True(p.IsAlive(), $"{p} ended while its node was cut off"));

        var healed = Stopwatch.GetTimestamp();
        await hosts.HealAsync(Cancellation);
        await ExpectRecoveredAsync(swarm, manager, w2, id, lostProcesses, healed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OneWayPacketLoss_BetweenWorkerAndManager_WorkerGoesDown_TasksRescheduled_RecoversAfterHealing(bool workerToManager)
    {
        // Either direction breaks the worker's session: worker → manager loses its heartbeats; manager → worker loses
        // the answers and the TCP acknowledgements, so the worker's stream stalls and its reconnects never complete.
        var swarm = await StartInHostsAsync(managers: 1, workers: 2);
        var hosts = _hosts[^1];
        var (manager, w2) = (swarm["m1"], swarm["w2"]);
        await DrainAsync(manager);
        var id = await manager.Api.CreateServiceAsync(Sleeper("oneway", 4), Cancellation);
        var running = await WaitForRunningAsync(swarm, manager, id, 4, "4 tasks of oneway running on the workers");
        var lost = running.Where(t => t.NodeID == w2.NodeId).ToList();
        Assert.NotEmpty(lost);
        var lostProcesses = TaskProcesses.Of(swarm, lost);

        var cut = Stopwatch.GetTimestamp();
        if (workerToManager)
        {
            await hosts.DropAsync(w2.Host!, manager.Host!, Cancellation);
        }
        else
        {
            await hosts.DropAsync(manager.Host!, w2.Host!, Cancellation);
        }

        Output?.WriteLine($"dropping {(workerToManager ? "w2 → m1" : "m1 → w2")} only");
        await ExpectDownAndReplacedAsync(swarm, manager, w2, id, lost, cut);
        Assert.All(lostProcesses, p => Assert.True(p.IsAlive(), $"{p} ended while its node was half cut off"));

        var healed = Stopwatch.GetTimestamp();
        await hosts.HealAsync(Cancellation);
        await ExpectRecoveredAsync(swarm, manager, w2, id, lostProcesses, healed);
    }

    private static ServiceSpec Sleeper(string name, ulong replicas) => new()
    {
        Name = name,
        TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Image = "busybox", Command = ["/bin/sleep", "600"] } },
        Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = replicas } },
    };

    /// <summary>The manager runs no tasks, so that a lost worker's tasks can only go to the other worker.</summary>
    private static Task DrainAsync(SwarmNodeProcess manager) =>
        manager.Api.UpdateNodeAsync(manager.NodeId!, spec => spec.Availability = NodeAvailabilities.Drain, Cancellation);

    /// <summary>The cut-off worker goes DOWN and each of its tasks is replaced, in its slot, on another node.</summary>
    private static async Task ExpectDownAndReplacedAsync(LocalSwarm swarm, SwarmNodeProcess manager, SwarmNodeProcess victim, string id, List<SwarmTask> lost, long cut)
    {
        await swarm.WaitForNodeStateAsync(victim, NodeStates.Down, $"{victim.Name} DOWN", Deadline, Cancellation);
        Output?.WriteLine($"{victim.Name} DOWN {Stopwatch.GetElapsedTime(cut).TotalMilliseconds:0} ms after the fault (heartbeat {Heartbeat.TotalMilliseconds:0} ms)");
        List<SwarmTask> last = [];
        await swarm.WaitForAsync(
            async ct =>
            {
                last = await manager.Api.TasksAsync(id, TaskStates.Running, ct);
                var elsewhere = last.Where(t => t.Status.State == TaskStates.Running && t.NodeID != victim.NodeId).ToList();
                return elsewhere.Count == 4 && lost.All(l => elsewhere.Any(t => t.Slot == l.Slot && t.ID != l.ID));
            },
            $"the {lost.Count} tasks of {victim.Name} replaced on the other worker, 4 running",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "last seen: " + ServiceTasks.Describe(swarm, last),
            Cancellation);
        Output?.WriteLine($"{lost.Count} tasks of {victim.Name} replaced and running {Stopwatch.GetElapsedTime(cut).TotalMilliseconds:0} ms after the fault");
        foreach (var task in lost)
        {
            Assert.Equal(TaskStates.Shutdown, (await manager.Api.TaskAsync(task.ID, Cancellation)).DesiredState);
        }
    }

    /// <summary>After the heal the worker is READY again, its old task processes end, and no slot has two tasks RUNNING.</summary>
    private static async Task ExpectRecoveredAsync(LocalSwarm swarm, SwarmNodeProcess manager, SwarmNodeProcess victim, string id, List<TaskProcess> lostProcesses, long healed)
    {
        await swarm.WaitForNodeStateAsync(victim, NodeStates.Ready, $"{victim.Name} READY again after the heal", Deadline, Cancellation);
        Output?.WriteLine($"{victim.Name} READY {Stopwatch.GetElapsedTime(healed).TotalMilliseconds:0} ms after the heal");
        await swarm.WaitForAsync(
            _ => Task.FromResult(!lostProcesses.Any(p => p.IsAlive())),
            $"the old task processes of {victim.Name} gone after the heal",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "still alive: " + string.Join(", ", lostProcesses.Where(p => p.IsAlive())),
            Cancellation);
        Output?.WriteLine($"{lostProcesses.Count} old task processes of {victim.Name} ended {Stopwatch.GetElapsedTime(healed).TotalMilliseconds:0} ms after the heal");

        // Every task the manager knows (whatever its desired state): per slot at most one RUNNING, four slots running.
        List<SwarmTask> all = [];
        await swarm.WaitForAsync(
            async ct =>
            {
                all = await manager.Api.TasksAsync(id, cancellationToken: ct);
                var runningNow = all.Where(t => t.Status.State == TaskStates.Running).ToList();
                return runningNow.Count == 4 && runningNow.Select(t => t.Slot).Distinct().Count() == 4;
            },
            "4 tasks running in 4 distinct slots",
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "last seen: " + string.Join("; ", all.Select(t => $"slot {t.Slot} {swarm.ByNodeId(t.NodeID ?? string.Empty)?.Name} {t.Status.State} desired {t.DesiredState}")),
            Cancellation);
        foreach (var slot in all.GroupBy(t => t.Slot))
        {
            Assert.True(slot.Count(t => t.Status.State == TaskStates.Running) <= 1, $"slot {slot.Key} has more than one RUNNING task: {string.Join(", ", slot.Select(t => $"{t.ID} {t.Status.State}"))}");
        }

        Assert.DoesNotContain(all, t => lostProcesses.Any(p => p.TaskId == t.ID) && t.Status.State == TaskStates.Running);
        Output?.WriteLine("final tasks: " + string.Join("; ", all.OrderBy(t => t.Slot).Select(t => $"slot {t.Slot} {swarm.ByNodeId(t.NodeID ?? string.Empty)?.Name} {t.Status.State}")));
    }

    /// <summary>Waits until one of <paramref name="candidates"/> says, through its own API, that it leads.</summary>
    private static async Task<SwarmNodeProcess> WaitForSelfLeaderAsync(LocalSwarm swarm, IReadOnlyList<SwarmNodeProcess> candidates, string what)
    {
        SwarmNodeProcess? leader = null;
        await swarm.WaitForAsync(
            async ct =>
            {
                foreach (var candidate in candidates)
                {
                    if (await ClaimsLeadershipAsync(candidate, ct))
                    {
                        leader = candidate;
                        return true;
                    }
                }

                return false;
            },
            what,
            Deadline,
            TimeSpan.FromMilliseconds(100),
            cancellationToken: Cancellation);
        return leader!;
    }

    /// <summary>Whether <paramref name="node"/>'s own <c>GET /nodes</c> answers within 3 s and marks itself leader.</summary>
    private static async Task<bool> ClaimsLeadershipAsync(SwarmNodeProcess node, CancellationToken cancellationToken)
    {
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(3));
            var nodes = await node.Api.NodesAsync(limit.Token);
            return nodes.FirstOrDefault(n => n.ID == node.NodeId)?.ManagerStatus?.Leader == true;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    /// <summary>"id name version replicas" of every service the manager serves, sorted, or null when it does not answer.</summary>
    private static async Task<string?> ServicesViewAsync(SwarmNodeProcess manager, CancellationToken cancellationToken)
    {
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(3));
            var services = await manager.Api.ServicesAsync(limit.Token);
            return string.Join(", ", services.OrderBy(s => s.ID, StringComparer.Ordinal).Select(s => $"{s.ID} {s.Spec.Name} v{s.Version.Index} x{s.Spec.Mode.Replicated?.Replicas}"));
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    private async Task<LocalSwarm> StartInHostsAsync(int managers, int workers)
    {
        Assert.SkipUnless(NetnsHosts.Unavailable() is null, "partition tests skipped: " + NetnsHosts.Unavailable());
        var started = Stopwatch.GetTimestamp();
        var hosts = await NetnsHosts.CreateAsync(managers + workers, line => Output?.WriteLine(line), Cancellation);
        _hosts.Add(hosts);
        DisposeAfterSwarms(hosts);
        Output?.WriteLine($"{hosts} created in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");

        // Three managers join one at a time; on a loaded 2-core machine that alone has taken close to a minute.
        return await StartAsync(managers, workers, options: new LocalSwarmOptions { Hosts = hosts, StartTimeout = TimeSpan.FromSeconds(120) });
    }
}
