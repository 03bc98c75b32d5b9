using System.Collections.Frozen;
using Google.Protobuf.Reflection;
using Shoal.Api;

namespace Shoal.Ca.Authorization;

/// <summary>
/// What one method allows: the certificate roles that may call it, whether it is reachable without one, and whether
/// only the Raft leader serves it (a follower relays it there). <see cref="Descriptor"/> is the proto method.
/// </summary>
public sealed record MethodRule(string Method, IReadOnlySet<string> Roles, bool Bootstrap, bool ForwardToLeader = false, MethodDescriptor? Descriptor = null);

/// <summary>
/// The one table of who may call what on the cluster port, read from the <c>allowed_roles</c> and <c>bootstrap</c>
/// options each RPC declares in its proto. Methods not in the table, or declaring nothing, are refused to everyone.
/// </summary>
public sealed class MethodAuthorizationTable
{
    private readonly FrozenDictionary<string, MethodRule> _rules;

    private MethodAuthorizationTable(FrozenDictionary<string, MethodRule> rules) => _rules = rules;

    /// <summary>Every method in the table.</summary>
    public IEnumerable<MethodRule> Rules => _rules.Values;

    /// <summary>Builds the table from the services a port serves.</summary>
    /// <exception cref="InvalidOperationException">A bootstrap method outside the CA, or an unknown role.</exception>
    public static MethodAuthorizationTable FromServices(IEnumerable<ServiceDescriptor> services)
    {
        var rules = new Dictionary<string, MethodRule>(StringComparer.Ordinal);
        foreach (var service in services)
        {
            foreach (var method in service.Methods)
            {
                var rule = RuleOf(method);
                rules[rule.Method] = rule;
            }
        }

        return new MethodAuthorizationTable(rules.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>The rule a method declares, keyed like <c>ServerCallContext.Method</c> ("/package.Service/Method").</summary>
    public static MethodRule RuleOf(MethodDescriptor method)
    {
        var options = method.GetOptions();
        var roles = options?.GetExtension(OptionsExtensions.AllowedRoles)?.ToHashSet(StringComparer.Ordinal) ?? [];
        var bootstrap = options?.GetExtension(OptionsExtensions.Bootstrap) ?? false;
        var forward = options?.GetExtension(OptionsExtensions.ForwardToLeader) ?? false;
        foreach (var role in roles)
        {
            if (role is not (Ca.Roles.Manager or Ca.Roles.Worker))
            {
                throw new InvalidOperationException($"{method.FullName} allows the unknown role \"{role}\"");
            }
        }

        if (bootstrap && method.Service.FullName is not ("shoal.api.CA" or "shoal.api.NodeCA"))
        {
            throw new InvalidOperationException($"{method.FullName} is marked bootstrap, which only the CA's join methods may be");
        }

        if (forward && method.IsClientStreaming)
        {
            throw new InvalidOperationException($"{method.FullName} is marked forward_to_leader, which only unary and server-streaming methods may be");
        }

        return new MethodRule($"/{method.Service.FullName}/{method.Name}", roles, bootstrap, forward, method);
    }

    /// <summary>The rule for <paramref name="method"/>, or null when the method is unknown (and so refused).</summary>
    public MethodRule? Find(string method) => _rules.GetValueOrDefault(method);

    /// <summary>Whether <paramref name="path"/> is a bootstrap method, reachable without a client certificate.</summary>
    public bool IsBootstrap(string path) => _rules.TryGetValue(path, out var rule) && rule.Bootstrap;
}
