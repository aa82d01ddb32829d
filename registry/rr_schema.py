"""The RegTAP 1.1 ``rr`` schema: its fourteen tables and their columns, as TAP_SCHEMA describes them.

Names, column order, types and utypes are those of RegTAP 1.1 §7 (REC, ``ivoa-std/RegTAP``
``RegTAP.tex`` at 56a6ac5); the descriptions are the standard's (not normative). Every column has
std = 1; "string" columns are ``char`` except the free-text ones §5.4 names as likely to hold
non-ASCII (titles, descriptions, names, addresses), which are ``unicodeChar`` so VOTable output stays
valid; the three timestamps are ``char[19]`` with xtype ``timestamp``; ``region_of_regard`` is in deg.
The schema's utype is the data model's IVOID (§7). Pure data. Tests: tests/registry/test_regtap.py.
"""

from __future__ import annotations

from dali.values import Column, TableMeta

__all__ = ["RR_SCHEMA", "RR_SCHEMA_DESCRIPTION", "RR_UTYPE", "rr_tables"]

RR_SCHEMA = "rr"
RR_UTYPE = "ivo://ivoa.net/std/RegTAP#1.1"
RR_SCHEMA_DESCRIPTION = ("The resources this deployment publishes (its publishing registry's records), as RegTAP 1.1 "
                         "tables: query them with pyvo.registry after choose_RegTAP_service(this TAP URL)")

# Free text (RegTAP 1.1 §5.4 lists titles, descriptions, creator_seq, role_name, street_address).
_UNICODE = frozenset({
    "res_title", "res_description", "creator_seq", "role_name", "street_address", "cap_description",
    "schema_description", "schema_title", "table_description", "table_title", "column_description",
    "param_description", "rights", "source_value", "related_name", "res_subject", "detail_value",
})

# (table, utype, description, ((column, type, utype, description), ...)); types: s string, i integer,
# r real, t character[19] + timestamp.
_TABLES = (
    ("resource", "xpath:/",
     "The resources (like services, data collections, organizations) present in this registry.", (
         ("ivoid", "s", "xpath:identifier",
          "Unambiguous reference to the resource conforming to the IVOA standard for identifiers."),
         ("res_type", "s", "xpath:@xsi:type",
          "Resource type (something like vs:datacollection, vs:catalogservice, etc)."),
         ("created", "t", "xpath:@created",
          "The UTC date and time this resource metadata description was created."),
         ("short_name", "s", "xpath:shortName",
          "A short name or abbreviation given to something, for presentation in space-constrained fields (up to 16 "
          "characters)."),
         ("res_title", "s", "xpath:title",
          "The full name given to the resource."),
         ("updated", "t", "xpath:@updated",
          "The UTC date this resource metadata description was last updated."),
         ("content_level", "s", "xpath:content/contentLevel",
          "A hash-separated list of content levels specifying the intended audience."),
         ("res_description", "s", "xpath:content/description",
          "An account of the nature of the resource."),
         ("reference_url", "s", "xpath:content/referenceURL",
          "URL pointing to a human-readable document describing this resource."),
         ("creator_seq", "s", "xpath:curation/creator/name",
          "The creator(s) of the resource in the order given by the resource record author, separated by semicolons."),
         ("content_type", "s", "xpath:content/type",
          "A hash-separated list of natures or genres of the content of the resource."),
         ("source_format", "s", "xpath:content/source/@format",
          "The format of source_value. This, in particular, can be \"bibcode\"."),
         ("source_value", "s", "xpath:content/source",
          "A bibliographic reference from which the present resource is derived or extracted."),
         ("res_version", "s", "xpath:curation/version",
          "Label associated with creation or availablilty of a version of a resource."),
         ("region_of_regard", "r", "xpath:coverage/regionOfRegard",
          "A single numeric value representing the angle, given in decimal degrees, by which a positional query "
          "against this resource should be \"blurred\" in order to get an appropriate match."),
         ("waveband", "s", "xpath:coverage/waveband",
          "A hash-separated list of regions of the electro-magnetic spectrum that the resource's spectral coverage "
          "overlaps with."),
         ("rights", "s", "xpath:/rights",
          "A statement of usage conditions (license, attribution, embargo, etc)."),
         ("rights_uri", "s", "xpath:/rights/@rightsURI",
          "A URI identifying a license the data is made available under."),
     )),
    ("res_role", "",
     "Entities (persons or organizations) operating on resources: creators, contacts, publishers, contributors.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("role_name", "s", "",
          "The real-world name or title of a person or organization."),
         ("role_ivoid", "s", "",
          "An IVOA identifier of a person or organization."),
         ("street_address", "s", "",
          "A mailing address for a person or organization."),
         ("email", "s", "",
          "An email address the entity can be reached at."),
         ("telephone", "s", "",
          "A telephone number the entity can be reached at."),
         ("logo", "s", "",
          "URL pointing to a graphical logo, which may be used to help identify the entity."),
         ("base_role", "s", "",
          "The role played by this entity; this is one of contact, publisher, contributor, or creator."),
     )),
    ("res_subject", "xpath:/content/",
     "Topics, object types, or other descriptive keywords about the resource.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("res_subject", "s", "xpath:subject",
          "Topics, object types, or other descriptive keywords about the resource."),
     )),
    ("capability", "xpath:/capability/",
     "Pieces of behaviour of a resource.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("cap_index", "i", "",
          "An arbitrary identifier of this capability within the resource."),
         ("cap_type", "s", "xpath:@xsi:type",
          "The type of capability covered here. If looking for endpoints implementing a certain standard, you should "
          "not use this column but rather match against standard_id."),
         ("cap_description", "s", "xpath:description",
          "A human-readable description of what this capability provides as part of the over-all service."),
         ("standard_id", "s", "xpath:@standardID",
          "A URI for a standard this capability conforms to."),
     )),
    ("res_schema", "xpath:/tableset/schema/",
     "Sets of tables related to resources.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("schema_index", "i", "",
          "An arbitrary identifier for the res_schema rows belonging to a resource."),
         ("schema_description", "s", "xpath:description",
          "A free text description of the tableset explaining in general how all of the tables are related."),
         ("schema_name", "s", "xpath:name",
          "A name for the set of tables."),
         ("schema_title", "s", "xpath:title",
          "A descriptive, human-interpretable name for the table set."),
         ("schema_utype", "s", "xpath:utype",
          "An identifier for a concept in a data model that the data in this schema as a whole represent."),
     )),
    ("res_table", "xpath:/(tableset/schema/|)table/",
     "(Relational) tables that are part of schemata or resources.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("schema_index", "i", "",
          "Index of the schema this table belongs to, if it belongs to a schema (otherwise NULL)."),
         ("table_description", "s", "xpath:description",
          "A free-text description of the table's contents."),
         ("table_name", "s", "xpath:name",
          "The fully qualified name of the table. This name should include all catalog or schema prefixes needed to "
          "distinguish it in a query."),
         ("table_index", "i", "",
          "An arbitrary identifier for the tables belonging to a resource."),
         ("table_title", "s", "xpath:title",
          "A descriptive, human-interpretable name for the table."),
         ("table_type", "s", "xpath:@type",
          "A name for the role this table plays. Recognized values include \"output\", indicating this table is output "
          "from a query; \"base_table\", indicating a table whose records represent the main subjects of its schema; "
          "and \"view\", indicating that the table represents a useful combination or subset of other tables. Other "
          "values are allowed."),
         ("table_utype", "s", "xpath:utype",
          "An identifier for a concept in a data model that the data in this table as a whole represent."),
     )),
    ("table_column", "xpath:/(tableset/schema/|)/table/column/",
     "Metadata on columns of a resource's tables.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("table_index", "i", "",
          "Index of the table this column belongs to."),
         ("name", "s", "xpath:name",
          "The name of the column."),
         ("ucd", "s", "xpath:ucd",
          "A unified content descriptor that describes the scientific content of the column."),
         ("unit", "s", "xpath:unit",
          "The unit associated with all values in the column."),
         ("utype", "s", "xpath:utype",
          "An identifier for a role in a data model that the data in this column represents."),
         ("std", "i", "xpath:@std",
          "If 1, the meaning and use of this column is reserved and defined by a standard model. If 0, it represents "
          "a database-specific column that effectively extends beyond the standard."),
         ("datatype", "s", "xpath:dataType",
          "The type of the data contained in the column."),
         ("extended_schema", "s", "xpath:dataType/@extendedSchema",
          "An identifier for the schema that the value given by the extended attribute is drawn from."),
         ("extended_type", "s", "xpath:dataType/@extendedType",
          "A custom type for the values this column contains."),
         ("arraysize", "s", "xpath:dataType/@arraysize",
          "The shape of the array that constitutes the value, e.g., 4, *, 4*, 5x4, or 5x*, as specified by VOTable."),
         ("delim", "s", "xpath:dataType/@delim",
          "The string that is used to delimit elements of an array value when arraysize is not '1'."),
         ("type_system", "s", "xpath:dataType/@xsi:type",
          "The type system used, as a QName with a canonical prefix; this will ususally be one of vs:simpledatatype, "
          "vs:votabletype, and vs:taptype."),
         ("flag", "s", "xpath:flag",
          "Hash-separated keywords representing traits of the column. Recognized values include "
          "\"indexed\", \"primary\", and \"nullable\"."),
         ("column_description", "s", "xpath:description",
          "A free-text description of the column's contents."),
     )),
    ("interface", "xpath:/capability/interface/",
     "Information on access modes of a capability.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("cap_index", "i", "",
          "The index of the parent capability."),
         ("intf_index", "i", "",
          "An arbitrary identifier for the interfaces of a resource."),
         ("intf_type", "s", "xpath:@xsi:type",
          "The type of the interface (vr:webbrowser, vs:paramhttp, etc)."),
         ("intf_role", "s", "xpath:@role",
          "An identifier for the role the interface plays in the particular capability. If the value is equal to "
          "\"std\" or begins with \"std:\", then the interface refers to a standard interface defined by the standard "
          "referred to by the capability's standardID attribute."),
         ("std_version", "s", "xpath:@version",
          "The version of a standard interface specification that this interface complies with. When the interface is"
          " provided in the context of a Capability element, then the standard being refered to is the one identified"
          " by the Capability's standardID element."),
         ("query_type", "s", "xpath:queryType",
          "Hash-joined list of expected HTTP method (get or post) supported by the service."),
         ("result_type", "s", "xpath:resultType",
          "The MIME type of a document returned in the HTTP response."),
         ("wsdl_url", "s", "xpath:wsdlURL",
          "The location of the WSDL that describes this Web Service. If NULL, the location can be assumed to be the "
          "accessURL with '?wsdl' appended."),
         ("url_use", "s", "xpath:accessURL/@use",
          "A flag indicating whether this should be interpreted as a base URL ('base'), a full URL ('full'), or a URL"
          " to a directory that will produce a listing of files ('dir')."),
         ("access_url", "s", "xpath:accessURL",
          "The URL at which the interface is found."),
         ("mirror_url", "s", "xpath:mirrorURL",
          "Secondary access URLs of this interface, separated by hash characters."),
         ("authenticated_only", "i", "",
          "A flag for whether an interface is available for anonymous use (=0) or only authenticated clients are "
          "served (=1)."),
     )),
    ("intf_param", "xpath:/capability/interface/param/",
     "Input parameters for services.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("intf_index", "i", "",
          "The index of the interface this parameter belongs to."),
         ("name", "s", "xpath:name",
          "The name of the parameter."),
         ("ucd", "s", "xpath:ucd",
          "A unified content descriptor that describes the scientific content of the parameter."),
         ("unit", "s", "xpath:unit",
          "The unit associated with all values in the parameter."),
         ("utype", "s", "xpath:utype",
          "An identifier for a role in a data model that the data in this parameter represents."),
         ("std", "i", "xpath:@std",
          "If 1, the meaning and use of this parameter is reserved and defined by a standard model. If 0, it "
          "represents a database-specific parameter that effectively extends beyond the standard."),
         ("datatype", "s", "xpath:dataType",
          "The type of the data contained in the parameter."),
         ("extended_schema", "s", "xpath:dataType/@extendedSchema",
          "An identifier for the schema that the value given by the extended attribute is drawn from."),
         ("extended_type", "s", "xpath:dataType/@extendedType",
          "A custom type for the values this parameter contains."),
         ("arraysize", "s", "xpath:dataType/@arraysize",
          "The shape of the array that constitutes the value, e.g., 4, *, 4*, 5x4, or 5x*, as specified by VOTable."),
         ("delim", "s", "xpath:dataType/@delim",
          "The string that is used to delimit elements of an array value when arraysize is not '1'."),
         ("param_use", "s", "xpath:@use",
          "An indication of whether this parameter is required to be provided for the application or service to work "
          "properly (one of required, optional, ignored, or NULL)."),
         ("param_description", "s", "xpath:description",
          "A free-text description of the parameter's contents."),
     )),
    ("relationship", "xpath:/content/relationship/",
     "Relationships between resources (like mirroring, derivation, serving a data collection).", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("relationship_type", "s", "xpath:relationshipType",
          "The type of the relationship; these terms are drawn from a controlled vocabulary and are DataCite-"
          "compatible."),
         ("related_id", "s", "xpath:relatedResource/@ivo-id",
          "The IVOA identifier for the resource referred to."),
         ("related_name", "s", "xpath:relatedResource",
          "The name of resource that this resource is related to."),
     )),
    ("validation", "xpath:/(capability/|)validationLevel",
     "Validation levels for resources and capabilities.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("validated_by", "s", "xpath:validationLevel/@validatedBy",
          "The IVOA ID of the registry or organisation that assigned the validation level."),
         ("val_level", "i", "xpath:validationLevel",
          "A numeric grade describing the quality of the resource description, when applicable, to be used to "
          "indicate the confidence an end-user can put in the resource as part of a VO application or research study."),
         ("cap_index", "i", "",
          "If non-NULL, the validation only refers to the capability referenced here."),
     )),
    ("res_date", "xpath:/curation/",
     "A date associated with an event in the life cycle of the resource.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("date_value", "t", "xpath:date",
          "A date associated with an event in the life cycle of the resource."),
         ("value_role", "s", "xpath:date/@role",
          "A string indicating what the date refers to, e.g., created, availability, updated. This value is generally"
          " drawn from a controlled vocabulary."),
     )),
    ("res_detail", "",
     "XPath-value pairs for members of resource or capability and their derivations that are less used and/or from "
     "VOResource extensions.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("cap_index", "i", "",
          "The index of the parent capability; if NULL the xpath-value pair describes a member of the entire "
          "resource."),
         ("detail_xpath", "s", "",
          "The xpath of the data item."),
         ("detail_value", "s", "",
          "(Atomic) value of the member."),
     )),
    ("alt_identifier", "xpath:/(curation/creator/|)altIdentifier",
     "An alternate identifier associated with this record.", (
         ("ivoid", "s", "xpath:/identifier",
          "The parent resource."),
         ("alt_identifier", "s", "",
          "An identifier for the resource or an entity related to the resource in URI form."),
     )),
)


def _column(name: str, kind: str, utype: str, description: str) -> Column:
    if kind == "i":
        return Column(name, "int", utype=utype or None, description=description, principal=True, std=True)
    if kind == "r":
        return Column(name, "float", unit="deg" if name == "region_of_regard" else None, utype=utype or None,
                      description=description, principal=True, std=True)
    if kind == "t":
        return Column(name, "char", arraysize="19", xtype="timestamp", utype=utype or None,
                      description=description, principal=True, std=True)
    return Column(name, "unicodeChar" if name in _UNICODE else "char", arraysize="*", utype=utype or None,
                  description=description, principal=True, std=True)


def rr_tables() -> tuple[TableMeta, ...]:
    """The fourteen ``rr`` tables, in the standard's order."""
    return tuple(
        TableMeta(RR_SCHEMA, name, tuple(_column(*c) for c in columns), description=description,
                  utype=utype or None)
        for name, utype, description, columns in _TABLES)
