using Shoal.Api;
using Shoal.Manager.Allocator;
using static Shoal.Manager.Tests.Allocation.AllocatorHarness;

namespace Shoal.Manager.Tests.Allocation;

/// <summary>The cluster-wide table of published ports, on its own: what is reserved, what is picked, what is refused.</summary>
public sealed class PortAllocatorTests
{
    private static EndpointSpec Spec(params PortConfig[] ports) => new() { Ports = { ports } };

    [Fact]
    public void ExplicitIngressPort_IsReservedForItsService_AsAsked()
    {
        var table = new PortAllocator();

        var ports = table.Allocate("svc-a", "web", Spec(Ingress(80, 8080)), current: null, out var error);

        Assert.Null(error);
        var port = Assert.Single(ports!);
        Assert.Equal(8080u, port.PublishedPort);
        Assert.Equal(80u, port.TargetPort);
        Assert.Equal("svc-a", table.OwnerOf(PortProtocol.Tcp, 8080));
    }

    [Fact]
    public void DynamicPorts_TakeTheLowestFreePortsOfTheRange_SkippingReservedOnes()
    {
        var table = new PortAllocator();
        table.Allocate("svc-a", "a", Spec(Ingress(80, 30000)), null, out _);

        var ports = table.Allocate("svc-b", "b", Spec(Ingress(80), Ingress(443)), null, out var error);

        Assert.Null(error);
        Assert.Equal([30001u, 30002u], ports!.Select(p => p.PublishedPort));
        Assert.Equal("svc-b", table.OwnerOf(PortProtocol.Tcp, 30001));
    }

    [Fact]
    public void DynamicPort_IsKept_WhenTheSpecChangesOtherPorts()
    {
        var table = new PortAllocator();
        var first = Spec(Ingress(80));
        var endpoint = new Endpoint { Spec = first, Ports = { table.Allocate("svc-a", "a", first, null, out _)! } };
        Assert.Equal(30000u, endpoint.Ports[0].PublishedPort);

        // A new port comes first in the spec; it must not take 30000 from target 80, which did not change.
        var ports = table.Allocate("svc-a", "a", Spec(Ingress(443), Ingress(80)), endpoint, out var error);

        Assert.Null(error);
        Assert.Equal([30001u, 30000u], ports!.Select(p => p.PublishedPort));
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void SamePublishedPort_ForASecondService_IsRefusedByValidate_NamingThePortAndItsHolder()
    {
        var table = new PortAllocator();
        table.Allocate("svc-a", "web", Spec(Ingress(80, 8080)), null, out _);

        var error = table.Validate("svc-b", Spec(Ingress(8000, 8080)));

        Assert.Equal("port 8080/tcp is already in use by service 'web' (svc-a)", error);
        Assert.Equal("svc-a", table.OwnerOf(PortProtocol.Tcp, 8080));
        Assert.Empty(table.PortsOf("svc-b"));
    }

    [Fact]
    public void Validate_AcceptsAServiceKeepingItsOwnPorts_AndTheSamePortOnAnotherProtocol()
    {
        var table = new PortAllocator();
        table.Allocate("svc-a", "web", Spec(Ingress(80, 8080)), null, out _);

        Assert.Null(table.Validate("svc-a", Spec(Ingress(81, 8080))));
        Assert.Null(table.Validate("svc-b", Spec(Ingress(53, 8080, PortProtocol.Udp))));
        Assert.Equal(["8080/tcp"], table.PortsOf("svc-a"));
    }

    [Fact]
    public void SamePortTwiceInOneSpec_IsRefused()
    {
        var table = new PortAllocator();

        var error = table.Validate(string.Empty, Spec(Ingress(80, 8080), Ingress(81, 8080)));

        Assert.Equal("port 8080/tcp is published more than once in the endpoint spec", error);
    }

    [Fact]
    public void ReleasingAService_FreesItsPorts_ForAnother()
    {
        var table = new PortAllocator();
        table.Allocate("svc-a", "web", Spec(Ingress(80, 8080), Ingress(81)), null, out _);

        Assert.True(table.Release("svc-a"));

        Assert.Null(table.Validate("svc-b", Spec(Ingress(80, 8080))));
        var ports = table.Allocate("svc-b", "other", Spec(Ingress(80, 8080), Ingress(81)), null, out _);
        Assert.Equal([8080u, 30000u], ports!.Select(p => p.PublishedPort));
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void ExhaustedDynamicRange_IsAClearError_AndChangesNothing()
    {
        var table = new PortAllocator(dynamicStart: 30000, dynamicEnd: 30001);
        table.Allocate("svc-a", "a", Spec(Ingress(80), Ingress(81)), null, out _);

        var ports = table.Allocate("svc-b", "b", Spec(Ingress(80, 8080), Ingress(82)), null, out var error);

        Assert.Null(ports);
        Assert.Equal("no free port left in the dynamic range 30000-30001 for target port 82/tcp", error);
        Assert.Null(table.OwnerOf(PortProtocol.Tcp, 8080));
        Assert.Equal(error, table.Validate("svc-b", Spec(Ingress(82))));
    }

    [Fact]
    public void HostModePorts_AreCopiedAsGiven_ButNotReservedClusterWide()
    {
        var table = new PortAllocator();

        var ports = table.Allocate("svc-a", "a", Spec(Host(80, 8080)), null, out var error);

        Assert.Null(error);
        Assert.Equal(PublishMode.Host, Assert.Single(ports!).PublishMode);
        Assert.Null(table.OwnerOf(PortProtocol.Tcp, 8080));
        Assert.Null(table.Validate("svc-b", Spec(Ingress(80, 8080))));
        Assert.Null(table.Validate("svc-c", Spec(Host(80, 8080))));
    }

    [Fact]
    public void FailedReallocation_KeepsTheServicesPreviousPorts()
    {
        var table = new PortAllocator();
        table.Allocate("svc-a", "a", Spec(Ingress(80, 8080)), null, out _);
        table.Allocate("svc-b", "b", Spec(Ingress(80, 9090)), null, out _);

        var ports = table.Allocate("svc-b", "b", Spec(Ingress(80, 8080)), null, out var error);

        Assert.Null(ports);
        Assert.NotNull(error);
        Assert.Equal(["9090/tcp"], table.PortsOf("svc-b"));
    }

    [Fact]
    public void FromServices_RebuildsTheTable_FromStoredEndpoints()
    {
        var web = Publishing("web", Ingress(80, 8080));
        web.Endpoint = new Endpoint { Spec = web.Spec.Endpoint.Clone(), Ports = { Ingress(80, 8080) } };
        var unallocated = Publishing("new", Ingress(80, 9090));

        var table = PortAllocator.FromServices([web, unallocated]);

        Assert.Equal(web.Id, table.OwnerOf(PortProtocol.Tcp, 8080));
        Assert.Null(table.OwnerOf(PortProtocol.Tcp, 9090));
        Assert.Equal($"port 8080/tcp is already in use by service 'web' ({web.Id})", table.Validate("other", Spec(Ingress(1, 8080))));
    }
}
