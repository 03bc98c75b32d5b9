using System.Diagnostics;
using Shoal.Bench;
using Shoal.DockerApi.Model;
using DockerNode = Shoal.DockerApi.Model.Node;

namespace Shoal.Integration.Tests;

/// <summary>
/// Swarms of real <c>shoal agent</c> processes on loopback, driven only through their local APIs: joins, kill -9 of
/// workers and leaders, role changes, removals and restarts. Heartbeats are short (1 s, the shortest the cluster spec
/// accepts); deadlines are generous (correctness, not speed: the figures are in
/// docs/BENCHMARKS.md) and measured times go to the test output. When a test fails, every node's log is in its output.
/// </summary>
public sealed class SwarmProcessTests : LocalSwarmTests
{
    [Fact]
    public async Task InitThenJoins_TwoManagersAndThreeWorkers_ListSixReadyNodes_OneLeader_ThreeManagers()
    {
        var swarm = await StartAsync(managers: 3, workers: 3, TimeSpan.FromSeconds(1));

        var leader = await swarm.WaitForLeaderAsync(Deadline, cancellationToken: Cancellation);
        var nodes = await leader.Api.NodesAsync(Cancellation);

        Assert.Equal(6, nodes.Count);
        Assert.All(nodes, n => Assert.Equal(NodeStates.Ready, n.Status.State));
        Assert.Equal(["m1", "m2", "m3", "w1", "w2", "w3"], nodes.Select(n => n.Description.Hostname).Order(StringComparer.Ordinal));
        var managers = nodes.Where(n => n.Spec.Role == NodeRoles.Manager).ToList();
        Assert.Equal(["m1", "m2", "m3"], managers.Select(n => n.Description.Hostname).Order(StringComparer.Ordinal));
        Assert.All(managers, m => Assert.Equal(Reachabilities.Reachable, m.ManagerStatus?.Reachability));
        Assert.Single(nodes, n => n.ManagerStatus?.Leader == true);
        Assert.Equal(leader.NodeId, nodes.Single(n => n.ManagerStatus?.Leader == true).ID);
        Assert.All(nodes.Where(n => n.Spec.Role == NodeRoles.Worker), w => Assert.Null(w.ManagerStatus));

        // Each process is the node the list names, and knows its role.
        foreach (var process in swarm.Nodes)
        {
            var info = await process.Api.InfoAsync(Cancellation);
            Assert.Equal("active", info.Swarm.LocalNodeState);
            Assert.Equal(process.Name, nodes.Single(n => n.ID == info.Swarm.NodeID).Description.Hostname);
            Assert.Equal(process.Name.StartsWith('m'), info.Swarm.ControlAvailable);
        }
    }

    [Fact]
    public async Task KillingAWorker_MarksItDown_WithinThreeHeartbeatPeriods()
    {
        var heartbeat = TimeSpan.FromSeconds(1); // the shortest the cluster spec accepts
        var swarm = await StartAsync(managers: 1, workers: 2, heartbeat);
        var victim = swarm["w1"];

        var killed = Stopwatch.GetTimestamp();
        await victim.KillAsync();
        var nodes = await swarm.WaitForNodeStateAsync(victim, NodeStates.Down, "w1 DOWN after its kill -9", (3 * heartbeat) + TimeSpan.FromSeconds(5), Cancellation);
        var elapsed = Stopwatch.GetElapsedTime(killed);

        Output?.WriteLine($"w1 DOWN {elapsed.TotalMilliseconds:0} ms after kill -9 (heartbeat {heartbeat.TotalMilliseconds:0} ms; 3 periods = {3 * heartbeat.TotalMilliseconds:0} ms)");
        Assert.All(nodes.Where(n => n.ID != victim.NodeId), n => Assert.Equal(NodeStates.Ready, n.Status.State));
    }

    [Fact]
    public async Task KillingTheLeader_ElectsANewOne_WorkersReconnect_AndNoLiveNodeGoesDown()
    {
        // 1 s, the shortest period: a node has 6 periods (6 s) to register with the new leader. Before the agent's
        // backoff was capped at one period, a live worker whose backoff grew to 8 s during a slow election was marked
        // DOWN here under load (docs/BENCHMARKS.md, "Leader failover").
        var heartbeat = TimeSpan.FromSeconds(1);
        var grace = 6 * heartbeat; // UNKNOWN after a leader change, then READY or DOWN (DESIGN §13)
        var swarm = await StartAsync(managers: 3, workers: 2, heartbeat);
        var leader = await swarm.WaitForLeaderAsync(Deadline, cancellationToken: Cancellation);
        var workers = swarm.Nodes.Where(n => n.Name.StartsWith('w')).ToList();
        var alive = swarm.Nodes.Where(n => n != leader).ToList();

        var killedAt = DateTime.UtcNow;
        var killed = Stopwatch.GetTimestamp();
        await leader.KillAsync();
        var newLeader = await swarm.WaitForLeaderAsync(Deadline, except: leader, cancellationToken: Cancellation);
        var elected = Stopwatch.GetElapsedTime(killed);
        Output?.WriteLine($"{newLeader.Name} leads {elected.TotalMilliseconds:0} ms after kill -9 of {leader.Name}");

        // Sample the leader's node list through the whole grace (it starts with the new leader's dispatcher) and a
        // little more: a node that is alive must never show DOWN, whatever the new leader believes in between.
        var seenDown = new List<string>();
        var states = new Dictionary<string, List<string>>();
        var readyAgain = new Dictionary<string, TimeSpan>();
        while (Stopwatch.GetElapsedTime(killed) < elected + grace + TimeSpan.FromSeconds(3))
        {
            var current = await swarm.FindLeaderAsync(Cancellation);
            List<DockerNode>? nodes = null;
            try
            {
                nodes = current is null ? null : await current.Api.NodesAsync(Cancellation);
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SwarmApiException)
            {
            }

            foreach (var node in nodes ?? [])
            {
                var process = swarm.ByNodeId(node.ID);
                if (process is null || process == leader)
                {
                    continue;
                }

                var seen = states.TryGetValue(process.Name, out var list) ? list : states[process.Name] = [];
                if (seen.Count == 0 || seen[^1] != node.Status.State)
                {
                    seen.Add(node.Status.State);
                }

                if (node.Status.State == NodeStates.Down)
                {
                    seenDown.Add($"{process.Name} at {Stopwatch.GetElapsedTime(killed).TotalMilliseconds:0} ms");
                }

                // READY as written by the new leader (every node went UNKNOWN when its dispatcher started).
                if (node.Status.State == NodeStates.Ready && node.UpdatedAt >= new DateTimeOffset(killedAt))
                {
                    readyAgain.TryAdd(process.Name, Stopwatch.GetElapsedTime(killed));
                }
            }

            await Task.Delay(100, Cancellation);
        }

        Output?.WriteLine($"states seen on the leader after the kill: {string.Join("; ", states.Select(s => $"{s.Key} {string.Join(" -> ", s.Value)}"))}");
        Output?.WriteLine($"READY again on the new leader: {string.Join(", ", readyAgain.Select(r => $"{r.Key} at {r.Value.TotalMilliseconds:0} ms"))}");
        Assert.True(seenDown.Count == 0, $"live nodes were listed DOWN after the failover: {string.Join(", ", seenDown)}");

        foreach (var node in alive)
        {
            var sessions = node.SessionsSince(killedAt);
            Output?.WriteLine($"{node.Name}: sessions after the kill: {string.Join(", ", sessions.Select(o => $"with {swarm.Nodes.FirstOrDefault(n => n.Address == o.Manager)?.Name ?? o.Manager} at {(o.At - killedAt).TotalMilliseconds:0} ms"))}");
        }

        foreach (var worker in workers)
        {
            var sessions = worker.SessionsSince(killedAt);
            Assert.True(sessions.Count > 0, $"{worker.Name} opened no session after the kill:\n{worker.Tail(20)}");
            Assert.NotEqual(leader.Address, sessions[^1].Manager);
        }

        Assert.True(alive.All(a => readyAgain.ContainsKey(a.Name)), $"not every live node was READY again on the new leader: {string.Join(", ", readyAgain.Keys)}");

        // The dead leader has had its grace: it is DOWN, and unreachable as a manager.
        var final = await swarm.WaitForNodeStateAsync(leader, NodeStates.Down, $"the killed leader {leader.Name} DOWN after the grace", grace + TimeSpan.FromSeconds(10), Cancellation);
        Assert.Equal(Reachabilities.Unreachable, final.Single(n => n.ID == leader.NodeId).ManagerStatus?.Reachability);
        Assert.All(final.Where(n => n.ID != leader.NodeId), n => Assert.Equal(NodeStates.Ready, n.Status.State));
    }

    [Fact]
    public async Task PromoteAWorker_DemoteTheLeader_RemoveADownNode()
    {
        var swarm = await StartAsync(managers: 2, workers: 2, TimeSpan.FromSeconds(1));
        var leader = await swarm.WaitForLeaderAsync(Deadline, cancellationToken: Cancellation);
        var promoted = swarm["w1"];

        // Promotion: the worker becomes a Raft member with a manager's certificate and serves the control API.
        var started = Stopwatch.GetTimestamp();
        await leader.Api.SetRoleAsync(promoted.NodeId!, NodeRoles.Manager, Cancellation);
        await swarm.WaitForNodesAsync(
            list => list.Single(n => n.ID == promoted.NodeId) is { Spec.Role: NodeRoles.Manager, ManagerStatus.Reachability: Reachabilities.Reachable, Status.State: NodeStates.Ready }
                && list.Count(n => n.ManagerStatus is not null) == 3,
            "w1 a reachable manager, three managers",
            Deadline,
            cancellationToken: Cancellation);
        await swarm.WaitForAsync(async ct => (await promoted.Api.InfoAsync(ct)).Swarm.ControlAvailable, "w1's /info to say ControlAvailable", Deadline, cancellationToken: Cancellation);
        Assert.Equal(3, (await promoted.Api.NodesAsync(Cancellation)).Count(n => n.ManagerStatus is not null));
        Output?.WriteLine($"w1 promoted in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");

        // Demoting the leader: leadership goes to another manager first; the old leader stays in the swarm as a worker.
        started = Stopwatch.GetTimestamp();
        await leader.Api.SetRoleAsync(leader.NodeId!, NodeRoles.Worker, Cancellation);
        var newLeader = await swarm.WaitForLeaderAsync(Deadline, except: leader, cancellationToken: Cancellation);
        await swarm.WaitForNodesAsync(
            list => list.Single(n => n.ID == leader.NodeId) is { Spec.Role: NodeRoles.Worker, ManagerStatus: null, Status.State: NodeStates.Ready }
                && list.Count(n => n.ManagerStatus is not null) == 2,
            $"{leader.Name} a READY worker, two managers",
            Deadline,
            cancellationToken: Cancellation);
        await swarm.WaitForAsync(async ct => !(await leader.Api.InfoAsync(ct)).Swarm.ControlAvailable, $"{leader.Name}'s /info to say it is no manager", Deadline, cancellationToken: Cancellation);
        Assert.True(leader.IsRunning, $"{leader.Name} stopped when demoted");
        var managers = (await newLeader.Api.NodesAsync(Cancellation)).Where(n => n.ManagerStatus is not null).Select(n => n.ID);
        var expected = swarm.Nodes.Where(n => n.Name is "m1" or "m2" or "w1" && n != leader).Select(n => n.NodeId);
        Assert.Equal(expected.Order(StringComparer.Ordinal), managers.Order(StringComparer.Ordinal));
        Output?.WriteLine($"{leader.Name} demoted in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms; {newLeader.Name} leads");

        // Removal: a live worker is refused without --force; once DOWN it goes.
        var removed = swarm["w2"];
        var refusal = await Assert.ThrowsAsync<SwarmApiException>(() => newLeader.Api.RemoveNodeAsync(removed.NodeId!, cancellationToken: Cancellation));
        Assert.Equal(400, refusal.Status);
        Assert.Contains("is not down", refusal.Message, StringComparison.Ordinal);
        await removed.KillAsync();
        await swarm.WaitForNodeStateAsync(removed, NodeStates.Down, "w2 DOWN", Deadline, Cancellation);
        await newLeader.Api.RemoveNodeAsync(removed.NodeId!, cancellationToken: Cancellation);
        var after = await newLeader.Api.NodesAsync(Cancellation);
        Assert.DoesNotContain(after, n => n.ID == removed.NodeId);
        Assert.Equal(3, after.Count);
    }

    [Fact]
    public async Task DemotionThatWouldBreakQuorum_IsRefused_WithTheReason()
    {
        var swarm = await StartAsync(managers: 3, workers: 0, TimeSpan.FromSeconds(1));
        var leader = await swarm.WaitForLeaderAsync(Deadline, cancellationToken: Cancellation);
        var followers = swarm.Nodes.Where(n => n != leader).ToList();
        var (dead, live) = (followers[0], followers[1]);

        // Three managers, one dead: demoting a live follower would leave the leader and a dead member, no quorum.
        await dead.KillAsync();
        await swarm.WaitForNodesAsync(
            list => list.Single(n => n.ID == dead.NodeId).ManagerStatus?.Reachability == Reachabilities.Unreachable,
            $"{dead.Name} unreachable on the leader",
            Deadline,
            cancellationToken: Cancellation);
        var refusal = await Assert.ThrowsAsync<SwarmApiException>(() => leader.Api.SetRoleAsync(live.NodeId!, NodeRoles.Worker, Cancellation));
        Output?.WriteLine($"3 managers, 1 dead, demote a live follower: {refusal.Status} {refusal.Message}");
        Assert.Equal(400, refusal.Status);
        Assert.Contains("quorum", refusal.Message, StringComparison.Ordinal);
        Assert.Contains(live.NodeId!, refusal.Message, StringComparison.Ordinal);
        Assert.Equal(NodeRoles.Manager, (await leader.Api.NodeAsync(live.NodeId!, Cancellation)).Spec.Role);

        // Demoting the dead one keeps a quorum (two of two): it goes, leaving a group of two.
        await leader.Api.SetRoleAsync(dead.NodeId!, NodeRoles.Worker, Cancellation);
        await swarm.WaitForNodesAsync(
            list => list.Single(n => n.ID == dead.NodeId).ManagerStatus is null && list.Count(n => n.ManagerStatus is not null) == 2,
            $"{dead.Name} demoted, two managers",
            Deadline,
            cancellationToken: Cancellation);

        // Two managers, one dead: demoting the live one is refused too (with no quorum, nothing can be decided).
        var self = await leader.Api.NodeAsync(leader.NodeId!, Cancellation);
        self.Spec.Role = NodeRoles.Worker;
        await live.KillAsync();
        SwarmApiException? last = null;
        for (var attempt = 0; attempt < 4 && last is null; attempt++)
        {
            // The leader may count the dead member as reachable for a moment: then the change waits for a commit
            // that cannot come, and is sent again.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                await leader.Api.UpdateNodeAsync(leader.NodeId!, self.Version.Index, self.Spec, timeout.Token);
                Assert.Fail($"demoting {leader.Name}, the only live manager of two, was accepted");
            }
            catch (SwarmApiException e)
            {
                last = e;
            }
            catch (OperationCanceledException) when (!Cancellation.IsCancellationRequested)
            {
                Output?.WriteLine($"attempt {attempt + 1}: no answer in 10 s");
            }
        }

        Assert.NotNull(last);
        Output?.WriteLine($"2 managers, 1 dead, demote the live one: {last.Status} {last.Message}");
        Assert.True(last.Status >= 400, $"expected an error status, got {last.Status}");
        Assert.False(string.IsNullOrWhiteSpace(last.Message));
        Assert.True((await leader.Api.InfoAsync(Cancellation)).Swarm.ControlAvailable, $"{leader.Name} stopped being a manager");
    }

    [Fact]
    public async Task RestartingAWorkerAndAManager_FromTheirDataDirectories_BringsThemBackReady_WithTheSameIds()
    {
        var swarm = await StartAsync(managers: 3, workers: 1, TimeSpan.FromSeconds(1));
        var leader = await swarm.WaitForLeaderAsync(Deadline, cancellationToken: Cancellation);
        var manager = swarm.Nodes.First(n => n.Name.StartsWith('m') && n != leader);
        var worker = swarm["w1"];
        var ids = swarm.Nodes.ToDictionary(n => n.Name, n => n.NodeId);

        foreach (var node in new[] { worker, manager })
        {
            var restartedAt = DateTime.UtcNow;
            var started = Stopwatch.GetTimestamp();
            await node.StopAsync(Deadline);
            await node.StartAsync(cancellationToken: Cancellation);
            Assert.Equal(ids[node.Name], (await node.Api.InfoAsync(Cancellation)).Swarm.NodeID);
            await swarm.WaitForAsync(_ => Task.FromResult(node.SessionsSince(restartedAt).Count > 0), $"{node.Name} to open a session after its restart", Deadline, cancellationToken: Cancellation);
            await swarm.WaitForNodesAsync(
                list => list.Count == 4 && list.All(n => n.Status.State == NodeStates.Ready)
                    && list.Count(n => n.ManagerStatus?.Reachability == Reachabilities.Reachable) == 3,
                $"{node.Name} back: all four READY, three managers reachable",
                Deadline,
                cancellationToken: Cancellation);
            Output?.WriteLine($"{node.Name} stopped, restarted and READY in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
        }

        var nodes = await swarm.NodesAsync(Cancellation);
        Assert.Equal(ids.Values.Order(StringComparer.Ordinal), nodes.Select(n => n.ID).Order(StringComparer.Ordinal));
        Assert.Equal(3, nodes.Count(n => n.ManagerStatus?.Reachability == Reachabilities.Reachable));
        Assert.True((await manager.Api.InfoAsync(Cancellation)).Swarm.ControlAvailable, $"{manager.Name} is no manager after its restart");
        Assert.False((await worker.Api.InfoAsync(Cancellation)).Swarm.ControlAvailable);
    }
}
