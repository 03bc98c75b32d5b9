using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Shoal.Api;
using Shoal.Manager.Tests.Dispatching;
using Shoal.TestKit;

namespace Shoal.Agent.Tests;

/// <summary>Real agents against real dispatchers over mutual TLS on loopback.</summary>
public sealed class AgentSessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WhenItsManagersDispatcherStops_TheAgentRegistersWithAnotherManager()
    {
        await using var harness = await DispatcherHarness.StartAsync(managers: 2);
        var worker = harness.Issue();
        var sessions = new List<SessionEstablishedEventArgs>();
        var session = harness.Agent(worker, manager: 0);
        session.SessionEstablished += (_, e) =>
        {
            lock (sessions)
            {
                sessions.Add(e);
            }
        };
        await using var agent = new RunningAgent(session);
        await Eventually.TrueAsync(() => session.IsConnected && session.Managers.Count == 2, "the agent connected and told of both managers");
        Assert.Equal(harness.Managers[0].HostPort, session.ManagerAddress);

        // Leadership moves: the first manager's dispatcher stops, the second one's starts.
        await harness.Managers[0].StopAsync();
        harness.Managers[1].Start();

        await Eventually.TrueAsync(() => session.ManagerAddress == harness.Managers[1].HostPort, "the agent connected to the second manager");
        await Eventually.TrueAsync(() => harness.StateOf(worker.NodeId) == NodeState.Ready, "the worker READY again");
        await Eventually.TrueAsync(
            () =>
            {
                lock (sessions)
                {
                    return sessions.Count == 2;
                }
            },
            "SessionEstablished raised for the second session");
        lock (sessions)
        {
            Assert.Equal([harness.Managers[0].HostPort, harness.Managers[1].HostPort], sessions.Select(s => s.ManagerAddress));
            Assert.NotEqual(sessions[0].SessionId, sessions[1].SessionId);
        }
    }

    [Fact]
    public async Task TheAgent_KeepsItsSinkInStepWithTheStore_AndReportsStatusesUntilAccepted()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        var sink = new InMemoryAssignmentSink();
        var service = Objects.Service();
        var first = Objects.Task(service, 1, worker.NodeId, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tx.Create(first);
        }, Ct);
        await using var agent = new RunningAgent(harness.Agent(worker, sink));
        await Eventually.TrueAsync(() => sink.Tasks.ContainsKey(first.Id), "the complete set with the first task");

        var second = Objects.Task(service, 2, worker.NodeId, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(second);
            tx.Delete<SwarmTask>(first.Id);
        }, Ct);
        await Eventually.TrueAsync(() => sink.Tasks.Keys.SequenceEqual([second.Id]), "an increment adding the second task and removing the first");

        await agent.Session.ReportStatusAsync(
        [
            new TaskStatusUpdate { TaskId = second.Id, Status = new SwarmTaskStatus { State = TaskState.Accepted, Timestamp = Timestamp.FromDateTime(DateTime.UtcNow) } },
            new TaskStatusUpdate { TaskId = second.Id, Status = new SwarmTaskStatus { State = TaskState.Running, Timestamp = Timestamp.FromDateTime(DateTime.UtcNow) } },
        ], Ct);

        var stored = harness.Store.View().Tasks.Get(second.Id)!;
        Assert.Equal(TaskState.Running, stored.Status.State);
        Assert.Equal(worker.NodeId, stored.Status.AppliedBy);
    }

    [Fact]
    public async Task StatusesReportedWhileNoManagerServes_AreDeliveredOnceOneDoes()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        var service = Objects.Service();
        var task = Objects.Task(service, 1, worker.NodeId, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tx.Create(task);
        }, Ct);
        await using var agent = new RunningAgent(harness.Agent(worker));
        await Eventually.TrueAsync(() => agent.Session.IsConnected, "the agent connected");

        await harness.Managers[0].StopAsync();
        var report = agent.Session.ReportStatusAsync([new TaskStatusUpdate { TaskId = task.Id, Status = new SwarmTaskStatus { State = TaskState.Running } }], Ct);
        await Task.Delay(harness.Period, Ct);
        Assert.False(report.IsCompleted, "a report was accepted while no dispatcher ran");
        harness.Managers[0].Start();

        await report.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        Assert.Equal(TaskState.Running, harness.Store.View().Tasks.Get(task.Id)!.Status.State);
    }

    [Fact]
    public async Task RegistrationsAManagerRefuses_ReuseOneConnection_WhileOneToADeadManagerIsDropped()
    {
        // Two managers, no dispatcher running (as between a leader's death and the next one's start): every
        // registration is refused. Thousands of agents retrying at once must not each cost a TLS handshake per retry.
        await using var harness = await DispatcherHarness.StartAsync(managers: 2, run: false);
        var worker = harness.Issue();
        var failures = 0;
        var session = harness.Agent(worker);
        session.SessionFailed += (_, _) => Interlocked.Increment(ref failures);
        await using var agent = new RunningAgent(session);
        await Eventually.TrueAsync(() => Volatile.Read(ref failures) >= 8, "eight refused registrations");

        Assert.Equal(1, session.ChannelsOpened);
        Assert.Equal(1, harness.Managers[0].Port.TlsHandshakes);
        harness.Managers[0].Start();
        await Eventually.TrueAsync(() => session.IsConnected && harness.StateOf(worker.NodeId) == NodeState.Ready, "the worker READY once a dispatcher runs");
        Assert.Equal(1, harness.Managers[0].Port.TlsHandshakes);

        // The manager dies: its connection is refused from then on, and that channel is dropped (a new one is opened
        // for each try, so a manager that comes back is reached on a fresh connection).
        await harness.Managers[0].StopAsync();
        await harness.Managers[0].Port.DisposeAsync();
        var before = session.ChannelsOpened;
        var failed = Volatile.Read(ref failures);
        await Eventually.TrueAsync(() => Volatile.Read(ref failures) >= failed + 6, "six failed registrations with the first manager gone");

        // Six tries alternate over both managers (at least two on the dead one): the dead one's channel was opened
        // again, the live one's (refusing, its dispatcher not running) is kept.
        Assert.True(session.ChannelsOpened >= before + 2, $"{session.ChannelsOpened - before} channels opened for {Volatile.Read(ref failures) - failed} tries");
        Assert.Equal(1, harness.Managers[1].Port.TlsHandshakes);
    }

    [Theory]
    [InlineData(StatusCode.Unavailable, null, true)]
    [InlineData(StatusCode.ResourceExhausted, null, true)]
    [InlineData(StatusCode.FailedPrecondition, null, true)]
    [InlineData(StatusCode.Unavailable, "connection refused", false)]
    [InlineData(StatusCode.DeadlineExceeded, null, false)]
    [InlineData(StatusCode.Unauthenticated, null, false)]
    [InlineData(StatusCode.PermissionDenied, null, false)]
    public void AConnectionOutlivesOnlyARefusalTheManagerSent(StatusCode code, string? clientSideCause, bool kept)
    {
        var status = new Status(code, "refused", clientSideCause is null ? null : new IOException(clientSideCause));
        Assert.Equal(kept, AgentSession.ConnectionOutlives(new RpcException(status)));
        Assert.False(AgentSession.ConnectionOutlives(new IOException("the manager ended the session stream")));
    }
}
