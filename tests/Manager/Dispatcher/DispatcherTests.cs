using System.Diagnostics;
using Grpc.Core;
using Shoal.Agent;
using Shoal.Api;
using Shoal.Manager.Dispatcher;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Dispatching;

/// <summary>The dispatcher over real gRPC and mutual TLS, with a Raft-less store and a 250 ms heartbeat period.</summary>
public sealed class DispatcherTests
{
    private static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Fact]
    public async Task Registration_MarksTheNodeReady_WithItsDescriptionAndAddress()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        var started = Stopwatch.StartNew();
        await using var agent = new RunningAgent(harness.Agent(worker));

        await Eventually.TrueAsync(() => harness.StateOf(worker.NodeId) == NodeState.Ready, "the worker READY in the store");
        var toReady = started.Elapsed;
        var node = harness.Node(worker.NodeId)!;
        var expected = new NodeDescriptionProvider().Describe();
        Assert.Equal(expected.Hostname, node.Description.Hostname);
        Assert.Equal(expected.Platform, node.Description.Platform);
        Assert.True(node.Description.Resources.NanoCpus > 0 && node.Description.Resources.MemoryBytes > 0, node.Description.ToString());
        Assert.Equal("127.0.0.1", node.Status.Addr);
        await Eventually.TrueAsync(() => agent.Session.Node?.Status.State == NodeState.Ready, "the agent told its node is READY");
        Assert.True(agent.Session.IsConnected);
        Assert.Equal(harness.Managers[0].HostPort, agent.Session.ManagerAddress);
        Report($"agent start to READY in the store: {toReady.TotalMilliseconds:0} ms (includes the TLS handshake and one 50 ms write batch)");
    }

    [Fact]
    public async Task ManyNodesRegisteringAtOnce_AreWrittenInFewTransactions()
    {
        const int nodes = 40;
        await using var harness = await DispatcherHarness.StartAsync();
        var workers = Enumerable.Range(0, nodes).Select(_ => harness.Issue()).ToList();
        var channels = workers.Select(w => harness.Channel(w)).ToList();
        await Task.WhenAll(channels.Select(c => c.ConnectAsync(TestContext.Current.CancellationToken)));
        var before = harness.Store.Version;
        using var stop = new CancellationTokenSource();

        var calls = channels.Select(c => harness.Client(c).Session(new SessionRequest { Description = new NodeDescription { Hostname = "w" } }, cancellationToken: stop.Token)).ToList();
        await Task.WhenAll(calls.Select(c => c.ResponseStream.MoveNext(TestContext.Current.CancellationToken)));

        var writes = harness.Store.Version - before;
        Assert.All(workers, w => Assert.Equal(NodeState.Ready, harness.StateOf(w.NodeId)));
        Assert.True(writes <= 8, $"{nodes} registrations took {writes} store transactions; expected them batched into a few");
        Report($"{nodes} simultaneous registrations: {writes} store transactions");
        await stop.CancelAsync();
        foreach (var call in calls)
        {
            call.Dispose();
        }

        foreach (var channel in channels)
        {
            channel.Dispose();
        }
    }

    [Fact]
    public async Task Heartbeats_WriteNothing_AndAStoppedAgentGoesDownWithinThreePeriods()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        var agent = new RunningAgent(harness.Agent(worker));
        await Eventually.TrueAsync(() => agent.Session.Node?.Status.State == NodeState.Ready, "the worker READY");
        var version = harness.Store.Version;

        await Task.Delay(harness.Period * 5, TestContext.Current.CancellationToken);

        Assert.Equal(version, harness.Store.Version);
        Assert.Equal(NodeState.Ready, harness.StateOf(worker.NodeId));
        Assert.True(agent.Session.IsConnected);

        await agent.DisposeAsync();
        var stopped = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => harness.StateOf(worker.NodeId) == NodeState.Down, "the stopped worker DOWN");
        var detection = stopped.Elapsed;
        Assert.Equal(Manager.Dispatcher.Dispatcher.HeartbeatFailure, harness.Node(worker.NodeId)!.Status.Message);
        Assert.Equal(0, harness.Managers[0].Dispatcher.SessionCount);
        Report($"dead agent detected DOWN after {detection.TotalMilliseconds:0} ms (period {harness.Period.TotalMilliseconds:0} ms, TTL 3 periods = {harness.Period.TotalMilliseconds * 3:0} ms)");
    }

    [Fact]
    public async Task LeaderChange_MarksNodesUnknown_ThenReadyWhenTheyRegister_OrDownAfterTheGrace()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var (alive, gone) = (harness.Issue(), harness.Issue());
        await using var aliveAgent = new RunningAgent(harness.Agent(alive));
        var goneAgent = new RunningAgent(harness.Agent(gone));
        await Eventually.TrueAsync(() => harness.StateOf(alive.NodeId) == NodeState.Ready && harness.StateOf(gone.NodeId) == NodeState.Ready, "both workers READY");
        await goneAgent.DisposeAsync();
        using var watcher = harness.Store.Watch(new WatchOptions { Filter = StoreEventFilters.Of<Node>(n => n.Id == alive.NodeId || n.Id == gone.NodeId) });

        await harness.Managers[0].StopAsync();
        harness.Managers[0].Start();
        var restarted = Stopwatch.StartNew();

        await Eventually.TrueAsync(() => harness.StateOf(alive.NodeId) == NodeState.Ready && harness.StateOf(gone.NodeId) == NodeState.Down, "the reconnected worker READY and the gone one DOWN");
        var elapsed = restarted.Elapsed;
        var history = new List<(string, NodeState, string)>();
        while (watcher.TryRead(out var e))
        {
            var node = (Node)e.Target!;
            history.Add((node.Id, node.Status.State, node.Status.Message));
        }

        Assert.Contains((alive.NodeId, NodeState.Unknown, Manager.Dispatcher.Dispatcher.UnknownAfterLeaderChange), history);
        Assert.Contains((gone.NodeId, NodeState.Unknown, Manager.Dispatcher.Dispatcher.UnknownAfterLeaderChange), history);
        Assert.Equal(Manager.Dispatcher.Dispatcher.DownAfterLeaderChange, harness.Node(gone.NodeId)!.Status.Message);
        Assert.True(elapsed >= harness.Period * 5, $"the gone worker went DOWN after {elapsed.TotalMilliseconds:0} ms, before its grace of 6 periods");
        Assert.Equal(2, aliveAgent.Session.SessionsOpened);
    }

    [Fact]
    public async Task AfterALeaderChange_NodesStillComingBack_StretchTheGraceOfTheOthers()
    {
        // Period 500 ms: grace 6 periods (3 s), longest 12 periods (6 s). Twenty workers come back one every 200 ms,
        // so the last one registers about 3.8 s after the restart, beyond the plain grace.
        var (goneDown, returningDown) = await RestartWhileWorkersComeBackAsync(returning: 20, longestGraceMultiplier: 12);

        Assert.Empty(returningDown);
        Assert.True(goneDown >= TimeSpan.FromMilliseconds(3_800), $"the gone worker went DOWN {goneDown.TotalMilliseconds:0} ms after the restart, while workers were still coming back");
        Assert.True(goneDown < TimeSpan.FromSeconds(9), $"the gone worker went DOWN only {goneDown.TotalMilliseconds:0} ms after the restart (longest grace 6 s)");
        Report($"gone worker DOWN {goneDown.TotalMilliseconds:0} ms after the leader change; the last of 20 returning workers registered about 3,800 ms after it; plain grace 3,000 ms, longest 6,000 ms");
    }

    [Fact]
    public async Task AfterALeaderChange_TheGraceStretchesNoFurtherThanItsLongest()
    {
        // Longest grace 8 periods (4 s) while workers keep coming back for about 5.8 s: the gone one is DOWN at the
        // longest grace, not when the last one is back.
        var (goneDown, _) = await RestartWhileWorkersComeBackAsync(returning: 30, longestGraceMultiplier: 8);

        Assert.True(goneDown >= TimeSpan.FromMilliseconds(3_900), $"the gone worker went DOWN {goneDown.TotalMilliseconds:0} ms after the restart, before the longest grace");
        Assert.True(goneDown < TimeSpan.FromMilliseconds(5_600), $"the gone worker went DOWN {goneDown.TotalMilliseconds:0} ms after the restart, when the last worker came back");
        Report($"gone worker DOWN {goneDown.TotalMilliseconds:0} ms after the leader change; longest grace 4,000 ms; 30 workers coming back over about 5,800 ms");
    }

    [Fact]
    public async Task AfterALeaderChange_ASessionThatGoesSilentWhileOthersComeBack_IsDownOnceTheyAreBack()
    {
        // The first worker back stops at once: its heartbeat TTL (3 periods, 1.5 s) ends while the others are still
        // coming back (for about 3.8 s), which stretches it like the grace of the nodes still UNKNOWN.
        var silentDown = TimeSpan.Zero;
        var (goneDown, _) = await RestartWhileWorkersComeBackAsync(returning: 20, longestGraceMultiplier: 12, firstBack: async (harness, agent) =>
        {
            var back = Stopwatch.StartNew();
            await Eventually.TrueAsync(() => agent.Session.IsConnected && agent.Session.Node is not null, "the first worker back");
            var id = agent.Session.Node!.Id;
            await agent.StopAsync();
            _ = Task.Run(async () =>
            {
                await Eventually.TrueAsync(() => harness.StateOf(id) == NodeState.Down, "the silent worker DOWN", TimeSpan.FromSeconds(10));
                silentDown = back.Elapsed;
            });
        });

        Assert.True(goneDown >= TimeSpan.FromMilliseconds(3_800), $"the gone worker went DOWN {goneDown.TotalMilliseconds:0} ms after the restart");
        await Eventually.TrueAsync(() => silentDown > TimeSpan.Zero, "the silent worker DOWN");
        Assert.True(silentDown >= TimeSpan.FromMilliseconds(3_000), $"the worker that went silent was DOWN {silentDown.TotalMilliseconds:0} ms after it came back, while others were still coming back");
        Report($"a session silent from the start of the storm: DOWN {silentDown.TotalMilliseconds:0} ms after it registered (TTL 1,500 ms; the others came back over about 3,800 ms)");
    }

    /// <summary>
    /// READY workers and one that is gone; the dispatcher restarts (a leader change) and the <paramref name="returning"/>
    /// workers come back one every 200 ms. Returns when the gone worker went DOWN, and which returning ones did.
    /// </summary>
    private static async Task<(TimeSpan GoneDown, List<string> ReturningDown)> RestartWhileWorkersComeBackAsync(int returning, int longestGraceMultiplier, Func<DispatcherHarness, RunningAgent, Task>? firstBack = null)
    {
        var options = new DispatcherOptions { LeaderChangeMaxGraceMultiplier = longestGraceMultiplier };
        await using var harness = await DispatcherHarness.StartAsync(period: TimeSpan.FromMilliseconds(500), options: options);
        var workers = Enumerable.Range(0, returning).Select(_ => harness.Issue()).ToList();
        var gone = harness.Issue();
        var agents = workers.Append(gone).Select(c => new RunningAgent(harness.Agent(c))).ToList();
        try
        {
            await Eventually.TrueAsync(() => workers.Append(gone).All(c => harness.StateOf(c.NodeId) == NodeState.Ready), "every worker READY");
            await harness.Managers[0].StopAsync();
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }

            agents.Clear();
            using var watcher = harness.Store.Watch(new WatchOptions { Filter = StoreEventFilters.Of<Node>(n => n.Status?.State == NodeState.Down) });
            harness.Managers[0].Start();
            var restarted = Stopwatch.StartNew();
            var comingBack = Task.Run(async () =>
            {
                foreach (var credentials in workers)
                {
                    var agent = new RunningAgent(harness.Agent(credentials));
                    lock (agents)
                    {
                        agents.Add(agent);
                    }

                    if (firstBack is not null && credentials == workers[0])
                    {
                        await firstBack(harness, agent);
                    }

                    await Task.Delay(200, TestContext.Current.CancellationToken);
                }
            });

            await Eventually.TrueAsync(() => harness.StateOf(gone.NodeId) == NodeState.Down, "the gone worker DOWN", TimeSpan.FromSeconds(10));
            var goneDown = restarted.Elapsed;
            await comingBack;
            Assert.Equal(Manager.Dispatcher.Dispatcher.DownAfterLeaderChange, harness.Node(gone.NodeId)!.Status.Message);
            await Eventually.TrueAsync(() => workers.Skip(firstBack is null ? 0 : 1).All(c => harness.StateOf(c.NodeId) == NodeState.Ready), "the returning workers READY");
            var down = new List<string>();
            while (watcher.TryRead(out var e))
            {
                down.Add(((Node)e.Target!).Id);
            }

            return (goneDown, [.. down.Where(id => workers.Any(c => c.NodeId == id))]);
        }
        finally
        {
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ANodeRegisteringTooOften_IsRefused()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        using var channel = harness.Channel(worker);
        var client = harness.Client(channel);
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 3; i++)
        {
            using var call = client.Session(new SessionRequest(), cancellationToken: ct);
            Assert.True(await call.ResponseStream.MoveNext(ct));
        }

        using var refused = client.Session(new SessionRequest(), cancellationToken: ct);
        var error = await Assert.ThrowsAsync<RpcException>(() => refused.ResponseStream.MoveNext(ct));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal($"node {worker.NodeId} registered too often; wait before registering again", error.Status.Detail);
    }

    [Fact]
    public async Task ANewerSession_EndsTheOlderOne()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        using var channel = harness.Channel(worker);
        var client = harness.Client(channel);
        var ct = TestContext.Current.CancellationToken;
        using var first = client.Session(new SessionRequest(), cancellationToken: ct);
        Assert.True(await first.ResponseStream.MoveNext(ct));
        var firstId = first.ResponseStream.Current.SessionId;

        using var second = client.Session(new SessionRequest { PreviousSessionId = firstId }, cancellationToken: ct);
        Assert.True(await second.ResponseStream.MoveNext(ct));

        var ended = await Assert.ThrowsAsync<RpcException>(() => first.ResponseStream.MoveNext(ct));
        Assert.Equal(StatusCode.NotFound, ended.StatusCode);
        Assert.Contains("replaced by a newer session", ended.Status.Detail, StringComparison.Ordinal);
        var stale = await Assert.ThrowsAsync<RpcException>(() => client.HeartbeatAsync(new HeartbeatRequest { SessionId = firstId }, cancellationToken: ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, stale.StatusCode);
        var fresh = await client.HeartbeatAsync(new HeartbeatRequest { SessionId = second.ResponseStream.Current.SessionId }, cancellationToken: ct);
        var period = fresh.Period.ToTimeSpan();
        Assert.InRange(period, harness.Period * 0.9, harness.Period * 1.1);
    }

    [Fact]
    public async Task EveryCall_IsUnavailable_WhileTheDispatcherIsNotRunning()
    {
        await using var harness = await DispatcherHarness.StartAsync(run: false);
        var worker = harness.Issue();
        using var channel = harness.Channel(worker);
        var client = harness.Client(channel);
        var ct = TestContext.Current.CancellationToken;

        using var session = client.Session(new SessionRequest(), cancellationToken: ct);
        var errors = new[]
        {
            await Assert.ThrowsAsync<RpcException>(() => session.ResponseStream.MoveNext(ct)),
            await Assert.ThrowsAsync<RpcException>(() => client.HeartbeatAsync(new HeartbeatRequest { SessionId = "x" }, cancellationToken: ct).ResponseAsync),
            await Assert.ThrowsAsync<RpcException>(() => client.UpdateTaskStatusAsync(new UpdateTaskStatusRequest { SessionId = "x" }, cancellationToken: ct).ResponseAsync),
        };

        Assert.All(errors, e => Assert.Equal((StatusCode.Unavailable, "the dispatcher is not running on this manager"), (e.StatusCode, e.Status.Detail)));
    }

    [Fact]
    public async Task RemovingTheNode_EndsItsSession()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        using var channel = harness.Channel(worker);
        var ct = TestContext.Current.CancellationToken;
        using var session = harness.Client(channel).Session(new SessionRequest(), cancellationToken: ct);
        Assert.True(await session.ResponseStream.MoveNext(ct));

        await harness.Store.UpdateAsync(tx => tx.Delete<Node>(worker.NodeId), ct);

        var ended = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await session.ResponseStream.MoveNext(ct))
            {
            }
        });
        Assert.Equal((StatusCode.NotFound, $"node {worker.NodeId} was removed from the swarm"), (ended.StatusCode, ended.Status.Detail));
    }

    [Fact]
    public async Task SessionMessages_FollowChangesOfTheNodeAndTheManagers()
    {
        await using var harness = await DispatcherHarness.StartAsync(managers: 2);
        var worker = harness.Issue();
        await using var agent = new RunningAgent(harness.Agent(worker));
        await Eventually.TrueAsync(() => agent.Session.Managers.Count == 2 && agent.Session.Node?.Status.State == NodeState.Ready, "the agent told both managers and READY");
        var changes = new List<Node>();
        agent.Session.NodeChanged += (_, node) =>
        {
            lock (changes)
            {
                changes.Add(node);
            }
        };

        await harness.Store.UpdateAsync(tx =>
        {
            var node = tx.Nodes.Get(worker.NodeId)!.Clone();
            node.Spec.Annotations.Labels["zone"] = "b";
            tx.Update(node);
        }, TestContext.Current.CancellationToken);

        await Eventually.TrueAsync(() => agent.Session.Node?.Spec.Annotations.Labels.GetValueOrDefault("zone") == "b", "the agent told its new label");

        // The session records the node before it raises NodeChanged: wait for the event, not just the property.
        await Eventually.TrueAsync(
            () =>
            {
                lock (changes)
                {
                    return changes.Any(n => n.Spec.Annotations.Labels.GetValueOrDefault("zone") == "b");
                }
            },
            "NodeChanged raised with the new label");

        Assert.Equal(harness.Managers.Select(m => m.HostPort).Order(), agent.Session.Managers.Select(m => m.Addr).Order());
    }
}
