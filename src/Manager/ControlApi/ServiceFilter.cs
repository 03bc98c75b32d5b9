using Shoal.Api;

namespace Shoal.Manager.ControlApi;

/// <summary>
/// The filters of <c>ListServices</c>, parsed once per request: each list is an OR of its entries (labels excepted:
/// every label entry must match, as Docker's <c>label</c> filter has it), the lists are ANDed, an empty list passes all.
/// </summary>
internal sealed class ServiceFilter
{
    private readonly ListServicesRequest.Types.Filters _filters;
    private readonly HashSet<ServiceSpec.ModeOneofCase> _modes;

    private ServiceFilter(ListServicesRequest.Types.Filters filters, HashSet<ServiceSpec.ModeOneofCase> modes)
    {
        _filters = filters;
        _modes = modes;
    }

    /// <summary>Parses the request's filters; an unknown mode is refused with the list of valid ones.</summary>
    public static ServiceFilter Parse(ListServicesRequest.Types.Filters? filters, out string? error)
    {
        filters ??= new ListServicesRequest.Types.Filters();
        var modes = new HashSet<ServiceSpec.ModeOneofCase>();
        error = null;
        foreach (var mode in filters.Modes)
        {
            if (ParseMode(mode) is { } parsed)
            {
                modes.Add(parsed);
            }
            else
            {
                error = $"invalid mode filter \"{mode}\": expected replicated, global, replicated-job or global-job";
            }
        }

        return new ServiceFilter(filters, modes);
    }

    /// <summary>The name Docker gives a service mode ("replicated-job"), as the mode filter takes it.</summary>
    public static string ModeName(ServiceSpec.ModeOneofCase mode) => mode switch
    {
        ServiceSpec.ModeOneofCase.Replicated => "replicated",
        ServiceSpec.ModeOneofCase.Global => "global",
        ServiceSpec.ModeOneofCase.ReplicatedJob => "replicated-job",
        ServiceSpec.ModeOneofCase.GlobalJob => "global-job",
        _ => "none",
    };

    public bool Matches(Service service) =>
        FilterMatch.AnyPrefix(_filters.IdPrefixes, service.Id)
        && FilterMatch.AnyPrefix(_filters.NamePrefixes, service.Spec?.Annotations?.Name)
        && FilterMatch.AllLabels(_filters.Labels, service.Spec?.Annotations?.Labels)
        && (_modes.Count == 0 || _modes.Contains(service.Spec?.ModeCase ?? ServiceSpec.ModeOneofCase.None));

    private static ServiceSpec.ModeOneofCase? ParseMode(string mode) => mode.ToLowerInvariant() switch
    {
        "replicated" => ServiceSpec.ModeOneofCase.Replicated,
        "global" => ServiceSpec.ModeOneofCase.Global,
        "replicated-job" => ServiceSpec.ModeOneofCase.ReplicatedJob,
        "global-job" => ServiceSpec.ModeOneofCase.GlobalJob,
        _ => null,
    };
}
