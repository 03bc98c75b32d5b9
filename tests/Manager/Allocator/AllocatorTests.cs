using Shoal.Api;
using Shoal.TestKit;
using static Shoal.Manager.Tests.Allocation.AllocatorHarness;
using AllocatorLoop = Shoal.Manager.Allocator.Allocator;

namespace Shoal.Manager.Tests.Allocation;

/// <summary>The allocator against a Raft-less store, with real time (50 ms debounce) and condition waits: services get
/// their published ports, NEW tasks of allocated services move to PENDING.</summary>
public sealed class AllocatorTests
{
    [Fact]
    public async Task Service_WithAnExplicitPort_GetsAnEndpointForItsSpec_WithThatPortReserved()
    {
        var web = Publishing("web", Ingress(80, 8080), Host(443, 8443));
        await using var harness = await StartAsync(web);

        var stored = await harness.WaitAllocatedAsync(web);

        Assert.Equal(web.Spec.Endpoint, stored.Endpoint.Spec);
        Assert.Equal(web.Spec.Endpoint.Ports, stored.Endpoint.Ports);
        await harness.StopAsync();
        Assert.Equal(web.Id, harness.Allocator.Ports.OwnerOf(PortProtocol.Tcp, 8080));
        Assert.Null(harness.Allocator.Ports.OwnerOf(PortProtocol.Tcp, 8443));
    }

    [Fact]
    public async Task DynamicPort_IsChosenFromTheRange_AndStaysAcrossSpecUpdates()
    {
        var other = Publishing("other", Ingress(80, 30000));
        var web = Publishing("web", Ingress(80));
        await using var harness = await StartAsync(other);
        await harness.WaitAllocatedAsync(other);
        await harness.CreateAsync(web);
        var port = (await harness.WaitAllocatedAsync(web)).Endpoint.Ports[0].PublishedPort;
        Assert.Equal(30001u, port);

        // The other service gives 30000 back and web's replicas change: web keeps 30001, a newcomer gets 30000.
        await harness.DeleteServiceAsync(other.Id);
        await harness.ChangeSpecAsync(web.Id, spec => spec.Replicated.Replicas = 5);
        var newcomer = Publishing("newcomer", Ingress(80));
        await harness.CreateAsync(newcomer);
        Assert.Equal(30000u, (await harness.WaitAllocatedAsync(newcomer)).Endpoint.Ports[0].PublishedPort);
        Assert.Equal(port, harness.GetService(web.Id).Endpoint.Ports[0].PublishedPort);

        // A port added before it in web's endpoint spec takes the next free one; target 80 keeps 30001.
        await harness.ChangeSpecAsync(web.Id, spec => spec.Endpoint.Ports.Insert(0, Ingress(443)));
        var updated = await harness.WaitAllocatedAsync(web);

        Assert.Equal([30002u, port], updated.Endpoint.Ports.Select(p => p.PublishedPort));
    }

    [Fact]
    public async Task ConflictingServices_CreatedConcurrently_LeaveTheLaterUnallocated_UntilTheFirstIsRemoved()
    {
        var first = Publishing("first", Ingress(80, 8080));
        var later = Publishing("later", Ingress(80, 8080));
        var tasks = new[] { Objects.Task(later, 1), Objects.Task(later, 2) };
        await using var harness = new AllocatorHarness();
        await harness.CreateAsync(first);
        await harness.CreateAsync(later);
        await harness.CreateAsync(tasks);
        harness.Start();
        await harness.WaitAllocatedAsync(first);

        // Unrelated work keeps passes coming; the refused service is not written, its tasks stay NEW.
        var bystander = Publishing("bystander", Ingress(80, 9090));
        await harness.WaitNextPassAsync(() => harness.CreateAsync(bystander));
        await harness.WaitAllocatedAsync(bystander);
        Assert.Null(harness.GetService(later.Id).Endpoint);
        Assert.All(tasks, t => Assert.Equal(TaskState.New, harness.GetTask(t.Id).Status.State));

        await harness.DeleteServiceAsync(first.Id);

        var allocated = await harness.WaitAllocatedAsync(later);
        Assert.Equal(8080u, allocated.Endpoint.Ports[0].PublishedPort);
        await harness.WaitPendingAsync(tasks);
    }

    [Fact]
    public async Task NewTasks_OfAnAllocatedService_MoveToPending_WithItsEndpoint_InBatchedWrites()
    {
        var web = Publishing("web", Ingress(80));
        await using var harness = await StartAsync(web);
        var endpoint = (await harness.WaitAllocatedAsync(web)).Endpoint;
        var tasks = Enumerable.Range(1, 1000).Select(slot => Objects.Task(web, slot)).ToArray();
        var before = harness.Store.Version;

        await harness.CreateAsync(tasks);
        await harness.WaitPendingAsync(tasks);

        // One transaction created them; 1,000 moves at 200 changes per transaction are 5 more.
        Assert.Equal(1ul + 5, harness.Store.Version - before);
        var task = harness.GetTask(tasks[0].Id);
        Assert.Equal(endpoint, task.Endpoint);
        Assert.Equal(AllocatorLoop.PendingMessage, task.Status.Message);
        Assert.NotNull(task.Status.Timestamp);
        Assert.Equal(TaskState.Running, task.DesiredState);
    }

    [Fact]
    public async Task NewService_AndItsTasks_AreWrittenInOnePass()
    {
        var web = Publishing("web", Ingress(80, 8080));
        var tasks = new[] { Objects.Task(web, 1), Objects.Task(web, 2), Objects.Task(web, 3) };
        await using var harness = await StartAsync();
        await harness.WatchingAsync();
        var before = harness.Store.Version;

        await harness.CreateAsync([web, .. tasks]);
        await harness.WaitPendingAsync(tasks);

        Assert.Equal(2ul, harness.Store.Version - before);
        Assert.All(tasks, t => Assert.Equal(8080u, harness.GetTask(t.Id).Endpoint.Ports[0].PublishedPort));
    }

    [Fact]
    public async Task SpecChangedBetweenDecisionAndCommit_IsAllocatedAgain_FromTheStoredVersion()
    {
        var web = Publishing("web", Ingress(80, 8080));
        var task = Objects.Task(web, 1);
        await using var harness = new AllocatorHarness();
        await harness.CreateAsync(web, task);
        var changed = false;
        harness.Allocator.BeforeCommitAsync = async _ =>
        {
            if (!changed)
            {
                changed = true;
                await harness.ChangeSpecAsync(web.Id, spec => spec.Endpoint.Ports[0].PublishedPort = 9090);
            }
        };

        harness.Start();
        await harness.WaitPendingAsync(task);

        // The first decision (8080) was for a spec that no longer existed: neither the service nor its task got it.
        var stored = await harness.WaitAllocatedAsync(web);
        Assert.Equal(9090u, stored.Endpoint.Ports[0].PublishedPort);
        Assert.Equal(stored.Endpoint, harness.GetTask(task.Id).Endpoint);
        await harness.StopAsync();
        Assert.Null(harness.Allocator.Ports.OwnerOf(PortProtocol.Tcp, 8080));
    }

    [Fact]
    public async Task TasksWithoutAService_MoveToPending()
    {
        var task = OneOff();
        await using var harness = await StartAsync(task);

        await harness.WaitPendingAsync(task);

        Assert.Equal(AllocatorLoop.PendingMessage, harness.GetTask(task.Id).Status.Message);
    }

    [Fact]
    public async Task NewTasks_MeantToStop_AreLeftToTheOrchestrator()
    {
        var web = Publishing("web", Ingress(80));
        var stopping = Objects.Task(web, 1, desired: TaskState.Shutdown);
        var running = Objects.Task(web, 2);
        await using var harness = await StartAsync(web, stopping, running);

        await harness.WaitPendingAsync(running);

        Assert.Equal(TaskState.New, harness.GetTask(stopping.Id).Status.State);
        Assert.Null(harness.GetTask(stopping.Id).Endpoint);
    }

    [Fact]
    public async Task Restart_RebuildsThePortTable_FromTheStore()
    {
        var web = Publishing("web", Ingress(80, 8080), Ingress(81));
        await using var harness = await StartAsync(web);
        var held = (await harness.WaitAllocatedAsync(web)).Endpoint;

        await harness.RestartAsync();
        var taker = Publishing("taker", Ingress(80, 8080));
        var dynamic = Publishing("dynamic", Ingress(80));
        await harness.WatchingAsync();
        await harness.CreateAsync(taker, dynamic);
        var second = await harness.WaitAllocatedAsync(dynamic);
        await harness.StopAsync();

        // web kept its ports untouched; 8080 is still refused to others, and 30000 was not handed out twice.
        Assert.Equal(held, harness.GetService(web.Id).Endpoint);
        Assert.Null(harness.GetService(taker.Id).Endpoint);
        Assert.Equal(30001u, second.Endpoint.Ports[0].PublishedPort);
        Assert.Equal($"port 8080/tcp is already in use by service 'web' ({web.Id})", harness.Allocator.Ports.Validate(taker.Id, taker.Spec.Endpoint));
    }
}
