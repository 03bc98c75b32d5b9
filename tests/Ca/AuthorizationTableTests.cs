using System.Reflection;
using Google.Protobuf.Reflection;
using Shoal.Api;
using Shoal.Ca.Authorization;

namespace Shoal.Ca.Tests;

public sealed class AuthorizationTableTests
{
    /// <summary>Every gRPC service the API assembly defines (found through the generated file descriptors).</summary>
    public static IReadOnlyList<ServiceDescriptor> ApiServices() =>
        typeof(NodeCA).Assembly.GetTypes()
            .Where(t => t.Name.EndsWith("Reflection", StringComparison.Ordinal) && t.IsAbstract && t.IsSealed)
            .Select(t => (FileDescriptor)t.GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!)
            .SelectMany(f => f.Services)
            .ToList();

    [Fact]
    public void EveryMethodOfEveryApiService_DeclaresWhoMayCallIt()
    {
        var services = ApiServices();
        Assert.NotEmpty(services);

        var undeclared = services.SelectMany(s => s.Methods).Select(MethodAuthorizationTable.RuleOf).Where(r => r.Roles.Count == 0).Select(r => r.Method).ToList();

        Assert.Empty(undeclared);
    }

    [Fact]
    public void OnlyTheCasJoinMethods_AreReachableWithoutACertificate()
    {
        var table = MethodAuthorizationTable.FromServices(ApiServices());

        var bootstrap = table.Rules.Where(r => r.Bootstrap).Select(r => r.Method).Order(StringComparer.Ordinal).ToList();

        Assert.Equal(
            ["/shoal.api.CA/GetRootCACertificate", "/shoal.api.NodeCA/IssueNodeCertificate", "/shoal.api.NodeCA/NodeCertificateStatus"],
            bootstrap);
    }

    [Fact]
    public void TheTable_KnowsTheProbesRules_AndNothingElse()
    {
        var table = MethodAuthorizationTable.FromServices([Probe.Probe.Descriptor]);

        Assert.Equal([Roles.Manager], table.Find("/shoal.tests.Probe/ManagerOnly")!.Roles);
        Assert.Equal(new HashSet<string> { Roles.Manager, Roles.Worker }, table.Find("/shoal.tests.Probe/AnyMember")!.Roles);
        Assert.Empty(table.Find("/shoal.tests.Probe/Undeclared")!.Roles);
        Assert.Null(table.Find("/shoal.api.NodeCA/IssueNodeCertificate"));
        Assert.False(table.IsBootstrap("/shoal.tests.Probe/AnyMember"));
        Assert.False(table.IsBootstrap("/anything/else"));
    }
}
