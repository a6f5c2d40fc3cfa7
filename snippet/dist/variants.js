()=>{k.variant=(e,t)=>{e&&null!=t&&R("variant",e,{variant:O["exp:"+e]=""+t})},k.identify=e=>{/^[\w.:-]{1,64}$/.test(e)&&(O.uid=e)}}
