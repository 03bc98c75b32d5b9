using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Shoal.Api;
using Shoal.Manager.LogBroker;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Logs;

public sealed class LogBrokerTests
{
    private static string Text(LogMessage line) => line.Data.ToStringUtf8();

    [Fact]
    public async Task ServiceOnOneNode_WithoutFollow_GetsEveryLineWithItsContext_AndEnds()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId, worker.NodeId);
        var stamps = worker.Write(tasks[0].Id, LogStream.Stdout, "one", "two");
        worker.Write(tasks[0].Id, LogStream.Stderr, "oops");
        worker.Write(tasks[1].Id, LogStream.Stdout, "other task");

        var lines = await harness.Subscribe(LogBrokerHarness.ForServices(follow: false, service.Id)).ToEndAsync();

        Assert.Equal(["one", "two", "oops"], lines.Where(l => l.Context.TaskId == tasks[0].Id).Select(Text));
        Assert.Equal(4, lines.Count);
        Assert.All(lines, l =>
        {
            Assert.Equal(service.Id, l.Context.ServiceId);
            Assert.Equal(worker.NodeId, l.Context.NodeId);
        });
        var one = Assert.Single(lines, l => Text(l) == "one");
        Assert.Equal(tasks[0].Id, one.Context.TaskId);
        Assert.Equal(LogStream.Stdout, one.Stream);
        Assert.Equal(Timestamp.FromDateTimeOffset(stamps[0]), one.Timestamp);
        Assert.Equal(LogStream.Stderr, Assert.Single(lines, l => Text(l) == "oops").Stream);
        Assert.Equal(tasks[1].Id, Assert.Single(lines, l => Text(l) == "other task").Context.TaskId);
        await Eventually.TrueAsync(() => harness.Broker.SubscriptionCount == 0 && worker.Agent.ActiveSubscriptions == 0, "the subscription forgotten by the broker and the agent");
    }

    [Fact]
    public async Task ServiceOnTwoNodes_WithoutFollow_GetsTheLinesOfBoth_EachLabelledWithItsNode()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var first = await harness.AddWorkerAsync("worker-1");
        var second = await harness.AddWorkerAsync("worker-2");
        var (service, tasks) = await harness.CreateServiceAsync("web", first.NodeId, second.NodeId);
        first.Write(tasks[0].Id, LogStream.Stdout, "from one", "again one");
        second.Write(tasks[1].Id, LogStream.Stdout, "from two");

        var lines = await harness.Subscribe(LogBrokerHarness.ForServices(follow: false, service.Id)).ToEndAsync();

        Assert.Equal(["again one", "from one", "from two"], lines.Select(Text).Order());
        Assert.All(lines.Where(l => Text(l).EndsWith("one", StringComparison.Ordinal)), l => Assert.Equal((first.NodeId, tasks[0].Id), (l.Context.NodeId, l.Context.TaskId)));
        Assert.Equal((second.NodeId, tasks[1].Id), Assert.Single(lines, l => Text(l) == "from two").Context is var c ? (c.NodeId, c.TaskId) : default);
    }

    [Fact]
    public async Task Follow_SendsTheHistory_ThenAppendedLines_AndCancellingClosesTheNodesSubscription()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId);
        worker.Write(tasks[0].Id, LogStream.Stdout, "before");
        using var client = new CancellationTokenSource();

        var stream = harness.Subscribe(LogBrokerHarness.ForServices(follow: true, service.Id), client.Token);

        Assert.Equal(["before"], (await stream.TakeAsync(1)).Select(Text));
        worker.Write(tasks[0].Id, LogStream.Stderr, "after");
        var after = Assert.Single(await stream.TakeAsync(1));
        Assert.Equal(("after", LogStream.Stderr, tasks[0].Id), (Text(after), after.Stream, after.Context.TaskId));
        Assert.False(stream.Completion.IsCompleted);

        await client.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.Completion);
        await Eventually.TrueAsync(() => worker.Agent.ActiveSubscriptions == 0, "the agent stopped serving the closed subscription");
        Assert.Equal(0, harness.Broker.SubscriptionCount);
    }

    [Fact]
    public async Task Follow_TakesInTasksOfTheServiceAssignedLater()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var first = await harness.AddWorkerAsync("worker-1");
        var second = await harness.AddWorkerAsync("worker-2");
        var (service, tasks) = await harness.CreateServiceAsync("web", first.NodeId);
        first.Write(tasks[0].Id, LogStream.Stdout, "first task");
        using var client = new CancellationTokenSource();
        var stream = harness.Subscribe(LogBrokerHarness.ForServices(follow: true, service.Id), client.Token);
        await stream.TakeAsync(1);

        var later = Objects.Task(service, slot: 2, nodeId: second.NodeId, state: TaskState.Running);
        await harness.Store.CreateAsync(later);
        var sibling = Objects.Task(service, slot: 3, nodeId: first.NodeId, state: TaskState.Running);
        await harness.Store.CreateAsync(sibling);
        second.Write(later.Id, LogStream.Stdout, "second node");
        first.Write(sibling.Id, LogStream.Stdout, "same node, new task");

        var lines = await stream.TakeAsync(2);

        Assert.Equal(["same node, new task", "second node"], lines.Select(Text).Order());
        Assert.Equal((second.NodeId, later.Id), Assert.Single(lines, l => Text(l) == "second node").Context is var c ? (c.NodeId, c.TaskId) : default);
        await client.CancelAsync();
    }

    [Fact]
    public async Task TailSinceAndStreams_SelectTheLines()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId);
        var stamps = worker.Write(tasks[0].Id, LogStream.Stdout, "l1", "l2", "l3", "l4", "l5");
        worker.Write(tasks[0].Id, LogStream.Stderr, "e6");

        var tail = LogBrokerHarness.ForServices(follow: false, service.Id);
        tail.Options.Tail = 2;
        var since = LogBrokerHarness.ForServices(follow: false, service.Id);
        since.Options.Since = Timestamp.FromDateTimeOffset(stamps[3]);
        since.Options.Streams.Add(LogStream.Stdout);
        var until = LogBrokerHarness.ForServices(follow: false, service.Id);
        until.Options.Until = Timestamp.FromDateTimeOffset(stamps[1]);

        Assert.Equal(["l5", "e6"], (await harness.Subscribe(tail).ToEndAsync()).Select(Text));
        Assert.Equal(["l4", "l5"], (await harness.Subscribe(since).ToEndAsync()).Select(Text));
        Assert.Equal(["l1"], (await harness.Subscribe(until).ToEndAsync()).Select(Text));
    }

    [Fact]
    public async Task ManyLines_ArriveInOrder_InBatchesOfAtMostAThousand()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId);
        var expected = Enumerable.Range(0, 2500).Select(i => $"line {i}").ToArray();
        worker.Write(tasks[0].Id, LogStream.Stdout, expected);

        var stream = harness.Subscribe(LogBrokerHarness.ForServices(follow: false, service.Id));
        var lines = await stream.ToEndAsync();

        Assert.Equal(expected, lines.Select(Text));
        Assert.All(stream.BatchSizes, size => Assert.InRange(size, 1, 1000));
    }

    [Fact]
    public async Task TaskAndNodeSelectors_SelectTheirTasksOnly()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var first = await harness.AddWorkerAsync("worker-1");
        var second = await harness.AddWorkerAsync("worker-2");
        var (web, webTasks) = await harness.CreateServiceAsync("web", first.NodeId, second.NodeId);
        var (db, dbTasks) = await harness.CreateServiceAsync("db", second.NodeId);
        first.Write(webTasks[0].Id, LogStream.Stdout, "web on 1");
        second.Write(webTasks[1].Id, LogStream.Stdout, "web on 2");
        second.Write(dbTasks[0].Id, LogStream.Stdout, "db on 2");
        var pending = Objects.Task(web, slot: 3);
        await harness.Store.CreateAsync(pending);

        var byTask = new SubscribeLogsRequest { Selector = new LogSelector { TaskIds = { webTasks[0].Id, pending.Id } }, Options = new LogSubscriptionOptions { Tail = -1 } };
        var byNode = new SubscribeLogsRequest { Selector = new LogSelector { NodeIds = { second.NodeId } } };

        Assert.Equal(["web on 1"], (await harness.Subscribe(byTask).ToEndAsync()).Select(Text));
        var onSecond = await harness.Subscribe(byNode).ToEndAsync();
        Assert.Equal(["db on 2", "web on 2"], onSecond.Select(Text).Order());
        Assert.Equal(db.Id, Assert.Single(onSecond, l => Text(l) == "db on 2").Context.ServiceId);
    }

    [Fact]
    public async Task NodeWithoutListener_IsSkippedAfterTheWait_AndTheStreamStillEnds()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var silent = harness.Issue("worker-2");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId, silent.NodeId);
        worker.Write(tasks[0].Id, LogStream.Stdout, "here");

        var lines = await harness.Subscribe(LogBrokerHarness.ForServices(follow: false, service.Id)).ToEndAsync();

        Assert.Equal(["here"], lines.Select(Text));
    }

    [Fact]
    public async Task NodeThatListensButNeverAnswers_IsGivenUp_AndTheStreamStillEnds()
    {
        await using var harness = await LogBrokerHarness.StartAsync(new LogBrokerOptions { NodeIdleTimeout = TimeSpan.FromMilliseconds(300) });
        var worker = await harness.AddWorkerAsync("worker-1");
        var mute = harness.Issue("worker-2");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId, mute.NodeId);
        worker.Write(tasks[0].Id, LogStream.Stdout, "here");
        using var channel = harness.Channel(mute);
        using var listen = new Shoal.Api.LogBroker.LogBrokerClient(channel).ListenSubscriptions(new ListenSubscriptionsRequest());
        await Eventually.TrueAsync(() => harness.Broker.IsListening(mute.NodeId), "the mute node listening");

        var lines = await harness.Subscribe(LogBrokerHarness.ForServices(follow: false, service.Id)).ToEndAsync();

        Assert.Equal(["here"], lines.Select(Text));
        Assert.True(await listen.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal([tasks[1].Id], listen.ResponseStream.Current.Selector.TaskIds);
    }

    [Fact]
    public async Task UnknownServiceOrTask_IsNotFound_BeforeAnyMessage()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var byTask = new SubscribeLogsRequest { Selector = new LogSelector { TaskIds = { "nosuchtask" } } };

        var service = await Assert.ThrowsAsync<RpcException>(() => harness.Subscribe(LogBrokerHarness.ForServices(false, "nosuchservice")).Completion);
        var task = await Assert.ThrowsAsync<RpcException>(() => harness.Subscribe(byTask).Completion);
        var empty = await Assert.ThrowsAsync<RpcException>(() => harness.Subscribe(new SubscribeLogsRequest()).Completion);

        Assert.Equal((StatusCode.NotFound, "service nosuchservice not found"), (service.StatusCode, service.Status.Detail));
        Assert.Equal((StatusCode.NotFound, "task nosuchtask not found"), (task.StatusCode, task.Status.Detail));
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Equal(0, harness.Broker.SubscriptionCount);
    }

    [Fact]
    public async Task Worker_PublishingForATaskItWasNotAskedFor_IsRefused()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var other = harness.Issue("worker-2");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId, other.NodeId);
        using var channel = harness.Channel(other);
        var client = new Shoal.Api.LogBroker.LogBrokerClient(channel);
        using var listen = client.ListenSubscriptions(new ListenSubscriptionsRequest());
        await Eventually.TrueAsync(() => harness.Broker.IsListening(other.NodeId), "worker-2 listening");
        using var stop = new CancellationTokenSource();
        var stream = harness.Subscribe(LogBrokerHarness.ForServices(follow: true, service.Id), stop.Token);
        Assert.True(await listen.ResponseStream.MoveNext(CancellationToken.None));
        var subscription = listen.ResponseStream.Current;
        Assert.Equal([tasks[1].Id], subscription.Selector.TaskIds);

        var foreign = new PublishLogsRequest { SubscriptionId = subscription.Id };
        foreign.Messages.Add(new LogMessage { Context = new LogContext { TaskId = tasks[0].Id }, Data = Google.Protobuf.ByteString.CopyFromUtf8("forged") });
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await client.PublishLogsAsync(foreign));
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await client.PublishLogsAsync(new PublishLogsRequest { SubscriptionId = "nosuchsubscription" }));
        var own = new PublishLogsRequest { SubscriptionId = subscription.Id };
        own.Messages.Add(new LogMessage { Context = new LogContext { TaskId = tasks[1].Id, ServiceId = "forged", NodeId = "forged" }, Data = Google.Protobuf.ByteString.CopyFromUtf8("mine") });
        await client.PublishLogsAsync(own);

        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains($"task \"{tasks[0].Id}\"", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var mine = Assert.Single(await stream.TakeAsync(1));
        Assert.Equal(("mine", service.Id, other.NodeId, tasks[1].Id), (Text(mine), mine.Context.ServiceId, mine.Context.NodeId, mine.Context.TaskId));
        await stop.CancelAsync();
        Assert.True(await listen.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal((subscription.Id, true), (listen.ResponseStream.Current.Id, listen.ResponseStream.Current.Close));
    }

    [Fact]
    public async Task StoppedBroker_RefusesListeners_WithUnavailable()
    {
        await using var harness = await LogBrokerHarness.StartAsync(run: false);
        var worker = harness.Issue("worker-1");
        using var channel = harness.Channel(worker);
        var client = new Shoal.Api.LogBroker.LogBrokerClient(channel);
        using var listen = client.ListenSubscriptions(new ListenSubscriptionsRequest());

        var error = await Assert.ThrowsAsync<RpcException>(() => listen.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }
}

public sealed class LogBrokerRoutingTests
{
    [Fact]
    public async Task ControlSubscribeLogs_OverGrpc_AnswersAtOnce_ThenStreamsLinesAsTheyAreWritten()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId);
        using var channel = harness.Channel(harness.Manager);
        var control = new Control.ControlClient(channel);
        using var client = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        using var call = control.SubscribeLogs(LogBrokerHarness.ForServices(follow: true, service.Id), cancellationToken: client.Token);
        await call.ResponseHeadersAsync;
        worker.Write(tasks[0].Id, LogStream.Stdout, "live");

        Assert.True(await call.ResponseStream.MoveNext(client.Token));
        var line = Assert.Single(call.ResponseStream.Current.Messages);
        Assert.Equal(("live", service.Id, worker.NodeId, tasks[0].Id), (Text(line), line.Context.ServiceId, line.Context.NodeId, line.Context.TaskId));
        using var missing = control.SubscribeLogs(LogBrokerHarness.ForServices(follow: false, "nosuchservice"));
        var error = await Assert.ThrowsAsync<RpcException>(() => missing.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    private static string Text(LogMessage line) => line.Data.ToStringUtf8();

    [Fact]
    public async Task WorkerBehindAFollower_IsServedByTheLeader_UnderItsOwnNodeId()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var follower = await harness.StartFollowerAsync();
        var worker = await harness.AddWorkerAsync("worker-1", follower.HostPort);
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId);
        worker.Write(tasks[0].Id, LogStream.Stdout, "relayed");

        var lines = await harness.Subscribe(LogBrokerHarness.ForServices(follow: false, service.Id)).ToEndAsync();

        var line = Assert.Single(lines);
        Assert.Equal(("relayed", worker.NodeId, tasks[0].Id), (Text(line), line.Context.NodeId, line.Context.TaskId));
    }

    [Fact]
    public async Task Follow_AfterTheNodeListensAgain_ResumesAfterTheLastLine_WithoutRepeats()
    {
        await using var harness = await LogBrokerHarness.StartAsync();
        var worker = await harness.AddWorkerAsync("worker-1");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId);
        worker.Write(tasks[0].Id, LogStream.Stdout, "before");
        using var client = new CancellationTokenSource();
        var stream = harness.Subscribe(LogBrokerHarness.ForServices(follow: true, service.Id), client.Token);
        await stream.TakeAsync(1);

        worker.Connection.Move("127.0.0.1:1");
        await Eventually.TrueAsync(() => !harness.Broker.IsListening(worker.NodeId), "the node's listener gone after its session moved away");
        worker.Write(tasks[0].Id, LogStream.Stdout, "while away");
        worker.Connection.Move(harness.Port.HostPort);

        Assert.Equal(["while away"], (await stream.TakeAsync(1)).Select(Text));
        worker.Write(tasks[0].Id, LogStream.Stdout, "after");
        Assert.Equal(["after"], (await stream.TakeAsync(1)).Select(Text));
        await client.CancelAsync();
    }

    [Fact]
    public async Task ClientThatDoesNotRead_EndsWithResourceExhausted_InsteadOfHoldingThePublishers()
    {
        await using var harness = await LogBrokerHarness.StartAsync(new LogBrokerOptions { ClientBufferBatches = 1, PublishTimeout = TimeSpan.FromMilliseconds(200) });
        var worker = await harness.AddWorkerAsync("worker-1");
        var (service, tasks) = await harness.CreateServiceAsync("web", worker.NodeId);
        worker.Write(tasks[0].Id, LogStream.Stdout, [.. Enumerable.Range(0, 5000).Select(i => $"line {i}")]);

        var stuck = harness.Broker.SubscribeAsync(
            LogBrokerHarness.ForServices(follow: true, service.Id),
            (_, ct) => Task.Delay(Timeout.Infinite, ct),
            null,
            CancellationToken.None);

        var error = await Assert.ThrowsAsync<RpcException>(() => stuck.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        await Eventually.TrueAsync(() => harness.Broker.SubscriptionCount == 0 && worker.Agent.ActiveSubscriptions == 0, "the subscription given up by the broker and the agent");
    }
}
